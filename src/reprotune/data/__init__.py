"""Data: sources, their fingerprints, preprocessing, typed tables, images, targets, folds."""
