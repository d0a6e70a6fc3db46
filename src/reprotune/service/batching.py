"""Micro-batching: concurrent /predict requests are scored in one forward pass, and each request
gets back exactly its own rows, from the one model version that scored the whole pass.

The window adapts to the load: a pass takes every request that queued while the previous one
ran, so a lone client waits for nothing and under load the batches grow by themselves. When
the previous pass was shared (concurrent clients), a pass also waits up to `max_wait_s` for
more (what a transformer gains from: one batched forward costs little more than one row)."""

import asyncio
from dataclasses import dataclass

import numpy as np

from reprotune.service.model import ModelHolder, ServedModel


@dataclass
class Pending:
    records: list[dict]
    answer: asyncio.Future


class MicroBatcher:
    def __init__(self, holder: ModelHolder, max_wait_s: float, max_records: int, on_pass=None):
        self.holder, self.max_wait_s, self.max_records = holder, max_wait_s, max_records
        self.on_pass = on_pass  # called with the record count of each forward pass
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()

    async def score(self, records: list[dict]) -> tuple[ServedModel, np.ndarray]:
        answer = asyncio.get_running_loop().create_future()
        await self.queue.put(Pending(records, answer))
        return await answer

    async def _gather(self, wait_s: float) -> list[Pending]:
        """The first waiting request, every request already queued, then whatever joins
        within `wait_s` (up to max_records rows)."""
        batch = [await self.queue.get()]
        rows = len(batch[0].records)
        while rows < self.max_records and not self.queue.empty():
            batch.append(self.queue.get_nowait())
            rows += len(batch[-1].records)
        deadline = asyncio.get_running_loop().time() + wait_s
        while rows < self.max_records:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                pending = await asyncio.wait_for(self.queue.get(), left)
            except TimeoutError:
                break
            batch.append(pending)
            rows += len(pending.records)
        return batch

    async def run(self) -> None:
        shared = False  # whether the last pass scored more than one request
        while True:
            batch = await self._gather(self.max_wait_s if shared else 0.0)
            shared = len(batch) > 1
            model = self.holder.current
            rows = [record for pending in batch for record in pending.records]
            try:
                proba = await asyncio.to_thread(forward, model, rows)
            except Exception as exc:  # every request of the pass gets the error
                for pending in batch:
                    if not pending.answer.done():
                        pending.answer.set_exception(exc)
                continue
            if self.on_pass is not None:
                self.on_pass(len(rows))
            start = 0
            for pending in batch:
                end = start + len(pending.records)
                if not pending.answer.done():  # the client may have gone
                    pending.answer.set_result((model, proba[start:end]))
                start = end


def forward(model: ServedModel, records: list[dict]) -> np.ndarray:
    candidate = model.candidate
    return np.asarray(candidate.predict_proba(candidate.select_inputs_from_records(records)))
