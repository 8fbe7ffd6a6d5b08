"""Seeds in parallel worker processes (`train --workers N`), with exactly the results of
training them one after another: a seed is a pure function of (spec, config, seed), so
each worker runs `train_seed` as the sequential loop would, and the parent keeps the
bookkeeping -- the callback rows, one checkpoint of every seed, the results in seed order.

Workers are started with 'spawn' (torch and fork do not mix) and each uses
`config.threads` torch threads (1 by default).  They talk to the parent over one queue:
curve rows, checkpoint blobs and the finished seed, each seed's messages in order.
Tensors cross it as `torch.save` bytes read back with ``weights_only=True`` (no
shared-memory handles that die with their worker).

Ctrl-C: the first one (in the terminal it reaches the workers too) lets every running
seed finish its iteration, checkpoint and stop; seeds not yet started are skipped; then
KeyboardInterrupt is raised as in the sequential loop.  A second one stops at once.
"""
from __future__ import annotations

import io
import os
import pickle
import queue
import signal
import threading
import time
import traceback
from dataclasses import asdict
from typing import Any, Callable, Optional

from mechdsl.compiler.ir import GameIR
from mechdsl.config import TrainConfig
import mechdsl.train as sequential
from mechdsl.train import Callback, SeedResult, TrainResult, checkpoint_blob, resumed, seed_numbers

POLL = 0.2  # seconds between looks at the workers while no message comes


def default_workers() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def fitting_workers(config: TrainConfig, ir: GameIR, workers: int) -> int:
    """At most `workers`, as many as fit in memory side by side (each seed simulates its
    own batch); 1 lets the seed's own check say what to change."""
    from mechdsl.compiler.errors import MechSizeError
    from mechdsl.memory import check_training

    n = workers
    while n > 1:
        try:
            check_training(ir, config.episodes, config.eval_episodes, max(1, config.population) * n, config.device,
                           config.mode, config.memory_budget)
            return n
        except MechSizeError:
            n //= 2
    return 1


def train_seeds(config: TrainConfig, ir: GameIR, workers: int = 1, callback: Optional[Callback] = None,
                resume: Optional[dict[str, Any]] = None, checkpoint: Optional[Callable[[dict], None]] = None,
                checkpoint_every: float = 30.0, on_seed_end: Optional[Callable[[int], None]] = None) -> TrainResult:
    """`mechdsl.train.train` with the seeds spread over `workers` processes (the same
    arguments, the same result); in this process when one worker or one seed is left."""
    t0 = time.time()
    done, partials = resumed(resume)
    pending = [s for s in seed_numbers(config) if s not in done]
    n = fitting_workers(config, ir, min(workers, len(pending)))
    if n <= 1:
        return sequential.train(config, ir, callback=callback, resume=resume, checkpoint=checkpoint,
                     checkpoint_every=checkpoint_every, on_seed_end=on_seed_end)

    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    tasks, events, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    for seed in pending:
        tasks.put((seed, pack(partials.get(seed))))
    for _ in range(n):
        tasks.put(None)
    procs = [ctx.Process(target=_worker, args=(config, ir, tasks, events, stop, checkpoint_every), daemon=True,
                         name=f"mechdsl-seeds-{k}") for k in range(n)]

    # Ctrl-C in this process: the first asks the workers to stop after their iteration
    hits = []

    def on_sigint(signum, frame):
        hits.append(signum)
        stop.set()
        if len(hits) > 1:
            raise KeyboardInterrupt

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    outstanding, error = set(pending), None
    try:
        for p in procs:
            p.start()
        while outstanding:
            try:
                kind, seed, data = events.get(timeout=POLL)
            except queue.Empty:
                crashed = [p for p in procs if p.exitcode not in (None, 0)]
                if crashed and error is None:  # killed (e.g. out of memory): stop the others too
                    error = RuntimeError(f"a worker process ended with exit code {crashed[0].exitcode} "
                                         f"while training seeds {sorted(outstanding)}")
                    stop.set()
                if not any(p.is_alive() for p in procs):
                    raise error or RuntimeError(f"the worker processes ended before seeds {sorted(outstanding)}")
                continue
            try:
                if kind == "row" and callback is not None:
                    callback(data)
                elif kind == "checkpoint":
                    partials[seed] = unpack(data)
                    if checkpoint is not None:
                        checkpoint(checkpoint_blob(done, partials))
                elif kind == "done":
                    done[seed] = SeedResult(**unpack(data))
                    partials.pop(seed, None)
                    outstanding.discard(seed)
                    if checkpoint is not None:
                        checkpoint(checkpoint_blob(done, partials))
                    if on_seed_end is not None:
                        on_seed_end(seed)
                elif kind in ("stopped", "skipped", "error"):
                    outstanding.discard(seed)
                    if kind == "error":
                        stop.set()
                        error = error or data
            except KeyboardInterrupt:  # from the callback or the checkpoint: as Ctrl-C (a second one: at once)
                hits.append(signal.SIGINT)
                stop.set()
                if len(hits) > 1:
                    raise
        for p in procs:
            p.join()
    except BaseException:
        tasks.cancel_join_thread()  # seeds never started: nothing waits to hand them over
        started = [p for p in procs if p.pid is not None]
        for p in started:  # a second Ctrl-C or a failure here: stop at once
            if p.is_alive():
                p.terminate()
        for p in started:
            p.join()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if error is not None:
        raise error
    if hits:
        raise KeyboardInterrupt
    return TrainResult(config=config, runs=[done[s] for s in sorted(done)], seconds=time.time() - t0)


# ---------------------------------------------------------------------------
# the worker process
# ---------------------------------------------------------------------------


def _worker(config: TrainConfig, ir: GameIR, tasks, events, stop, checkpoint_every: float) -> None:
    """Seeds from `tasks` until its end marker, every event sent to `events`.  SIGINT is
    ignored between seeds; within one, `train_seed` defers it to the iteration's end."""
    import torch

    from mechdsl.train import train_seed

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(config.threads or 1)
    while (task := tasks.get()) is not None:
        seed, partial = task
        if stop.is_set():
            events.put(("skipped", seed, None))
            continue
        try:
            res = train_seed(config, ir, seed, resume=unpack(partial), checkpoint_every=checkpoint_every,
                             callback=lambda row: events.put(("row", row["seed"], row)),
                             checkpoint=lambda blob, seed=seed: events.put(("checkpoint", seed, pack(blob))),
                             stop=stop.is_set)
            events.put(("done", seed, pack(asdict(res))))
        except KeyboardInterrupt:
            events.put(("stopped", seed, None))
        except Exception as e:  # noqa: BLE001 - sent to the parent, which raises it
            events.put(("error", seed, _portable(e)))
    events.close()
    events.join_thread()  # everything sent before the process ends


def _portable(e: Exception) -> Exception:
    """`e` itself when it survives the trip to the parent (a `MechError` keeps its exit
    status 2), else its traceback as text."""
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:  # noqa: BLE001
        return RuntimeError("".join(traceback.format_exception(e)))


def pack(obj: Any) -> Optional[bytes]:
    """Tensors and plain containers as `torch.save` bytes (None stays None)."""
    if obj is None:
        return None
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def unpack(data: Optional[bytes]) -> Any:
    if data is None:
        return None
    import torch

    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
