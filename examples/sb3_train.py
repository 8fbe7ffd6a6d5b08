"""Train the leader with Stable-Baselines3 PPO on the step-by-step Gymnasium env.

This is the paper's own setup (SB3 PPO on the Stackelberg POMDP, one leader decision
per step) -- slower than `mechdsl train`, which simulates many episodes as batched
tensors, but a check that the environment works with an off-the-shelf learner.

    pip install .[sb3]
    python examples/sb3_train.py specs/paper/allocation.mech --set messages=3 --steps 200000

Every `--eval-every` steps the greedy policy (the argmax action at each information
set) is read off the network and valued exactly, like `mechdsl train` does.
"""
from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--steps", type=float, default=2e5, help="SB3 environment steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--eval-every", type=float, default=5e4)
    args = ap.parse_args(argv)
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import BaseCallback
    except ImportError:
        print("examples/sb3_train.py needs Stable-Baselines3, which is an optional extra:\n"
              "    pip install .[sb3]        (or: pip install stable-baselines3)", file=sys.stderr)
        return 2

    import numpy as np
    import torch

    from mechdsl.env import make_env
    from mechdsl.pomdp import StackelbergPOMDP

    sets = dict(s.split("=", 1) for s in args.sets)
    env = make_env(args.spec, **sets)
    pomdp = StackelbergPOMDP(env.ir)
    feats = np.asarray(env.ir.obs_features, dtype=np.float32)
    legal = np.asarray(env.ir.legal, dtype=bool)

    def greedy_value(model) -> float:
        """Exact value of the map that plays the policy's most likely action everywhere."""
        obs = {"obs": feats, "action_mask": legal.astype(np.int8)}
        act, _ = model.predict(obs, deterministic=True)
        act = np.asarray(act)
        if env.continuous:
            head = np.where(legal, act[:, : pomdp.K], -np.inf)
            action = torch.as_tensor(head.argmax(1)).unsqueeze(0)
            weights = torch.as_tensor(np.log(np.clip((act[:, : pomdp.K] + 1) / 2, 1e-9, None))).unsqueeze(0)
            prices = None
            if env.n_prices:
                u = np.clip((act[:, pomdp.K:] + 1) / 2, 1e-6, 1 - 1e-6)
                prices = torch.as_tensor(np.log(u / (1 - u))).unsqueeze(0)
            m = pomdp.make_map(action, weights if env.ir.mixed else None, prices)
        else:
            a = np.where(legal[np.arange(len(act)), act], act, legal.argmax(1))
            m = pomdp.make_map(torch.as_tensor(a).unsqueeze(0))
        return float(pomdp.exact(m).value[0])

    class Eval(BaseCallback):
        def __init__(self):
            super().__init__()
            self.next = 0
            self.t0 = time.time()

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next:
                self.next += args.eval_every
                print(f"steps {self.num_timesteps:>9,}  greedy value {greedy_value(self.model):.4g}  "
                      f"{time.time() - self.t0:.0f}s", flush=True)
            return True

    model = PPO("MultiInputPolicy", env, learning_rate=args.lr, seed=args.seed, verbose=0, device="cpu")
    t0 = time.time()
    model.learn(total_timesteps=int(args.steps), callback=Eval())
    print(f"final greedy value {greedy_value(model):.6g} after {int(args.steps):,} steps, {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
