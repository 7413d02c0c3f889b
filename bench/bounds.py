"""What a ranker that knew the simulator's truth would score on the evaluation's protocol.

    python -m bench bounds [--couples 2000] [--seeds 1] [--bonus 0 0.5 1] [--json]

The engine issue asks for three things at once on simulated couples: NDCG@10
well above the baselines, a top-3 enjoyed nearly as much as the oracle's, and
half of the top-3 outside the couple's routine categories. This bench asks
whether those can hold together at all, by ranking with the simulator's own
latent variables instead of a model: ``truth[b]`` scores each idea by the
couple's true stable taste (``SimulatedWorld.intrinsic_enjoyment``) plus ``b``
times its true novelty bonus now, plus 2 for ideas within the couple's budget
ceiling. ``b = 1`` is the oracle's expected enjoyment without the repeat wear
(which would sink the held-out ideas, done by definition) and with the budget
the couple's choices obey. Same splits, same metrics as ``dateideas evaluate``
(engine and MF beside it). Writes ``bench/results/bounds.json`` (or ``--out``).
"""

from __future__ import annotations

from pathlib import Path

from bench.evaluation_runs import parser, write_and_show

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "bounds.json"
SHOWN = ("ndcg", "enjoyment_ratio", "outside_routine", "coverage")


def truth_ranker(world, bonus: float):
    """A ranker (the evaluation's interface) that scores ideas with ``world``'s latent truth."""
    from engine.lab.baselines import InteractionRanker

    class TruthRanker(InteractionRanker):
        def _scores(self, couples, H):
            couples = list(couples)
            return (world.intrinsic_enjoyment(couples) + bonus * world.novelty_bonus(couples)
                    + 2.0 * world.affordable(couples))

    return TruthRanker


def main(argv=None) -> dict:
    ap = parser(__doc__, RESULTS, seeds=1)
    ap.add_argument("--bonus", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    args = ap.parse_args(argv)

    from engine.lab.evaluation import default_models, evaluate
    from engine.lab.simulator import simulate

    world = simulate(args.couples, seed=0)
    baselines = default_models()
    models = {"engine": baselines["engine"], "mf": baselines["mf"]}
    models.update({f"truth[bonus={b:g}]": truth_ranker(world, b) for b in args.bonus})
    result = evaluate(world, models, seeds=args.seeds)
    result["couples"] = args.couples
    write_and_show(result, args, f"{args.couples} simulated couples, {args.seeds} seed(s)", SHOWN, 3)
    return result


if __name__ == "__main__":
    main()
