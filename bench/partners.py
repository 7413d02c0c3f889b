"""How the ranking's ``gap_penalty`` trades the couple's enjoyment for the less keen partner's.

    python -m bench partners [--couples 2000] [--seeds 3] [--gaps 0 0.1 0.25 0.4 0.5] [--json]

On the one-shot evaluation's splits (``dateideas evaluate --data synthetic``,
the same seeds), the engine is fitted once per split (and once more with
``partner_targets=False``, the couple-mean training, at the default gap),
then ranked at every ``gap_penalty``. Besides NDCG@10, the oracle ratio and
the top-3 outside the routine, it scores the top 3 (tonight's answer) with
the simulator's per-partner truth (``SimulatedWorld.partner_enjoyment``):
``both`` = mean true rating of the two partners, ``less_happy`` = the lower
of the two, ``gap`` = their mean absolute difference. Writes
``bench/results/partners.json`` (or ``--out``).

Until the weekly loop evaluation (``evaluate --loop``) lands, this is the
measurement the default ``gap_penalty`` is chosen on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.evaluation_runs import parser, write_and_show

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "partners.json"
SHOWN = ("ndcg", "enjoyment_ratio", "outside_routine", "both", "less_happy", "gap")
TOP = 3


def partner_scores(world, scorer, lists) -> dict[str, float]:
    """Per-partner truth of each couple's top 3: mean of both, the less happy one's, the gap."""
    E = world.partner_enjoyment(list(scorer.couples))
    both, low, gap = [], [], []
    for r, lst in enumerate(lists):
        pos = scorer.data.catalog.position([i for i, _ in lst[:TOP]])
        if len(pos):
            e = E[r, pos]
            both.append(e.mean())
            low.append(e.min(axis=1).mean())
            gap.append(np.abs(e[:, 0] - e[:, 1]).mean())
    return {"both": float(np.mean(both)), "less_happy": float(np.mean(low)), "gap": float(np.mean(gap))}


def main(argv=None) -> dict:
    ap = parser(__doc__, RESULTS, seeds=3)
    ap.add_argument("--gaps", type=float, nargs="+", default=[0.0, 0.1, 0.25, 0.4, 0.5])
    args = ap.parse_args(argv)

    from engine.lab.evaluation.protocol import _fit, _prepare, _recommend, _splits
    from engine.lab.simulator import simulate
    from engine.learning.model import EnjoymentModel

    world = simulate(args.couples, seed=0)
    data = _prepare(world, "synthetic")
    rows: dict[str, list[dict[str, float]]] = {}
    for seed, scorer in enumerate(_splits(data, args.seeds, 4, 10)):
        fits = {"partner_targets": EnjoymentModel,
                "mean_targets": lambda: EnjoymentModel(partner_targets=False)}
        for label, factory in fits.items():
            model = _fit(factory, seed, scorer.split.train, data.catalog, data.profiles)
            gaps = args.gaps if label == "partner_targets" else [0.0, EnjoymentModel().gap_penalty]
            for g in gaps:
                model.set_params(gap_penalty=g)
                lists = _recommend(model, scorer)
                metrics = scorer.score(lists)
                metrics.update(partner_scores(world, scorer, lists))
                rows.setdefault(f"{label}, gap_penalty={g:g}", []).append(metrics)
    result = {"couples": args.couples, "seeds": args.seeds,
              "models": {name: {k: round(float(np.mean([m[k] for m in ms])), 4) for k in SHOWN}
                         for name, ms in rows.items()}}
    write_and_show(result, args, f"{args.couples} simulated couples, {args.seeds} seed(s); top {TOP} scored on "
                   "per-partner truth", SHOWN, 4)
    return result


if __name__ == "__main__":
    main()
