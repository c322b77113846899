#!/usr/bin/env python3
"""GPyTorch's exact GP on the data of hpt's GPU benchmark, and the comparison table.

Reads the hpt_gpu_bench.json that bench/gpu/gp_gpu_bench.cc writes (its data files: inputs,
values, candidates, hpt's predictions), then on the same GPU and in FP64 times
  (a) an exact GP (Matern-5/2 ARD, constant mean, Gaussian noise) with hpt's fixed
      hyperparameters: model set-up and the posterior mean and variance of every candidate, with
      exact Cholesky solves (gpytorch.settings.fast_computations(False, False, False), a
      max_cholesky_size above every n, fast_pred_var off);
  (b) a hyperparameter fit of the same model from hpt's start (its prior's mode) with at most as
      many marginal-likelihood evaluations as hpt's fit (torch.optim.LBFGS, strong Wolfe line
      search), then (a) with the fitted hyperparameters;
checks GPyTorch's predictions of (a) against hpt's (max |difference| / max |hpt|, the variance
relative to the signal variance at least) and prints one Markdown table with both.

  python3 bench/gpu/gpytorch_bench.py --hpt /tmp/gpu-bench/hpt_gpu_bench.json \
      --out /tmp/gpu-bench/gpytorch_bench.json --markdown /tmp/gpu-bench/results.md

Needs numpy, torch and gpytorch (installed on the GPU machines, not on the build machine): without
them, or without a CUDA device, it exits with status 2 and says so.
"""

import argparse
import json
import math
import os
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hpt", required=True, help="hpt_gpu_bench.json from hpt_gp_gpu_bench")
    p.add_argument("--out", required=True, help="where to write GPyTorch's results (JSON)")
    p.add_argument("--markdown", help="where to write the Markdown table (it is printed too)")
    p.add_argument("--tolerance", type=float, default=1e-6,
                   help="largest relative difference of (a)'s predictions from hpt's")
    p.add_argument("--repeats", type=int, default=None,
                   help="runs of (a) per n (default: hpt's --repeats); the median is reported")
    p.add_argument("--chunk-bytes", type=float, default=2.5e9,
                   help="candidates per prediction call: as many as fit an n x chunk FP64 matrix "
                        "of this size")
    p.add_argument("--device", default="cuda")
    return p.parse_args()


def main():
    args = parse_args()
    try:
        import numpy as np
        import torch
        import gpytorch
    except ImportError as e:
        print(f"gpytorch_bench.py: needs numpy, torch and gpytorch ({e}); they are installed on "
              "the GPU machines, not on the CPU build machine", file=sys.stderr)
        return 2
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpytorch_bench.py: torch sees no CUDA device", file=sys.stderr)
        return 2

    with open(args.hpt) as f:
        hpt = json.load(f)
    settings = hpt["settings"]
    data_dir = hpt["data"]["dir"]
    dims = settings["dims"]
    evaluations = settings["fit_evaluations"]
    repeats = args.repeats or settings["repeats"]
    dev = torch.device(args.device)
    dtype = torch.float64

    def load(name, rows, cols=None):
        a = np.fromfile(os.path.join(data_dir, name), dtype="<f8")
        return a.reshape(rows, cols) if cols is not None else a.reshape(rows)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    class ExactModel(gpytorch.models.ExactGP):
        def __init__(self, x, y, likelihood):
            super().__init__(x, y, likelihood)
            self.mean_module = gpytorch.means.ConstantMean()
            self.covar_module = gpytorch.kernels.ScaleKernel(
                gpytorch.kernels.MaternKernel(nu=2.5, ard_num_dims=dims))

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x),
                                                             self.covar_module(x))

    def make_model(x, y, hyper):
        likelihood = gpytorch.likelihoods.GaussianLikelihood(
            noise_constraint=gpytorch.constraints.GreaterThan(1e-9))
        model = ExactModel(x, y, likelihood).to(device=dev, dtype=dtype)
        model.initialize(**{
            "covar_module.base_kernel.lengthscale":
                torch.tensor(hyper["lengthscales"], dtype=dtype, device=dev).reshape(1, dims),
            "covar_module.outputscale": hyper["signal_variance"],
            "likelihood.noise": hyper["noise_variance"],
            "mean_module.constant": hyper["mean"],
        })
        return model

    def exact():
        # Cholesky everywhere: no CG, no Lanczos, no LOVE.
        return [gpytorch.settings.fast_computations(covar_root_decomposition=False,
                                                    log_prob=False, solves=False),
                gpytorch.settings.max_cholesky_size(10**9),
                gpytorch.settings.fast_pred_var(False),
                gpytorch.settings.skip_posterior_variances(False)]

    class Settings:
        def __enter__(self):
            self.contexts = exact()
            for c in self.contexts:
                c.__enter__()

        def __exit__(self, *exc):
            for c in reversed(self.contexts):
                c.__exit__(*exc)

    def predict(model, z, n):
        model.eval()
        chunk = max(1000, int(args.chunk_bytes / (8 * max(n, 1))))
        means, variances = [], []
        with torch.no_grad(), Settings():
            for start in range(0, z.shape[0], chunk):
                f = model(z[start:start + chunk])
                means.append(f.mean)
                variances.append(f.variance)
        return torch.cat(means), torch.cat(variances), chunk

    def fixed_fit_and_posterior(x_np, y_np, z_np, hyper):
        """(a), timed from host arrays to host arrays like hpt's interface."""
        sync()
        start = time.perf_counter()
        x = torch.from_numpy(x_np).to(dev)
        y = torch.from_numpy(y_np).to(dev)
        z = torch.from_numpy(z_np).to(dev)
        model = make_model(x, y, hyper)
        mean, var, chunk = predict(model, z, x.shape[0])
        mean_np, var_np = mean.cpu().numpy(), var.cpu().numpy()
        sync()
        return time.perf_counter() - start, mean_np, var_np, chunk

    def full_fit_and_posterior(x_np, y_np, z_np, start_hyper):
        """(b): LBFGS on the exact marginal likelihood, at most `evaluations` evaluations."""
        sync()
        start = time.perf_counter()
        x = torch.from_numpy(x_np).to(dev)
        y = torch.from_numpy(y_np).to(dev)
        z = torch.from_numpy(z_np).to(dev)
        model = make_model(x, y, start_hyper)
        model.train()
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(model.likelihood, model)
        optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=evaluations,
                                      max_eval=evaluations, tolerance_grad=1e-9,
                                      tolerance_change=1e-12, line_search_fn="strong_wolfe")
        count = [0]

        def closure():
            count[0] += 1
            optimizer.zero_grad()
            with Settings():
                loss = -mll(model(x), y)
            loss.backward()
            return loss

        optimizer.step(closure)
        sync()
        fit_seconds = time.perf_counter() - start
        mean, var, _ = predict(model, z, x.shape[0])
        mean.cpu(), var.cpu()
        sync()
        kernel = model.covar_module
        fitted = {
            "lengthscales": kernel.base_kernel.lengthscale.detach().cpu().reshape(-1).tolist(),
            "signal_variance": float(kernel.outputscale.detach().cpu()),
            "noise_variance": float(model.likelihood.noise.detach().cpu().reshape(-1)[0]),
            "mean": float(model.mean_module.constant.detach().cpu().reshape(-1)[0]),
        }
        return time.perf_counter() - start, fit_seconds, count[0], fitted

    def relative(a, b, floor=1e-300):
        return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), floor))

    fixed = hpt["fixed_hyperparameters"]
    fit_start = hpt["fit_start"]
    m = settings["candidates"]
    z_np = load(hpt["data"]["candidates"], m, dims)

    # Warm-up: CUDA context, cuBLAS/cuSOLVER handles, kernels compiled on first use.
    rng = np.random.default_rng(0)
    wx, wz = rng.random((256, dims)), rng.random((1024, dims))
    fixed_fit_and_posterior(wx, np.sin(wx.sum(1)), wz, fixed)

    results = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else str(dev),
               "torch": torch.__version__, "gpytorch": gpytorch.__version__, "runs": []}
    failures = 0
    for ds in hpt["data"]["sets"]:
        n = ds["n"]
        x_np, y_np = load(ds["x"], n, dims), load(ds["y"], n)
        row = {"n": n}
        try:
            times = []
            for r in range(repeats):
                t, mean, var, chunk = fixed_fit_and_posterior(x_np, y_np, z_np, fixed)
                times.append(t)
            row["fixed"] = {"seconds": sorted(times)[len(times) // 2], "runs": times,
                            "chunk": chunk}
            if "hpt_mean" in ds:
                hm, hv = load(ds["hpt_mean"], m), load(ds["hpt_variance"], m)
                dm = relative(mean, hm)
                dv = relative(var, hv, floor=fixed["signal_variance"])
                ok = dm <= args.tolerance and dv <= args.tolerance
                failures += 0 if ok else 1
                row["check"] = {"against": ds.get("hpt_backend", "?"), "mean": dm,
                                "variance": dv, "tolerance": args.tolerance, "ok": ok}
            print(f"n={n} (a) {row['fixed']['seconds']:.3f} s", file=sys.stderr)
        except RuntimeError as e:  # CUDA out of memory, Cholesky failures
            row["fixed"] = {"error": str(e).splitlines()[0]}
            failures += 1
        try:
            total, fit_seconds, count, fitted = full_fit_and_posterior(x_np, y_np, z_np,
                                                                       fit_start)
            row["full"] = {"seconds": total, "fit_seconds": fit_seconds,
                           "likelihood_evaluations": count, "fitted": fitted}
            print(f"n={n} (b) {total:.3f} s ({count} evaluations)", file=sys.stderr)
        except RuntimeError as e:
            row["full"] = {"error": str(e).splitlines()[0]}
        results["runs"].append(row)
        if dev.type == "cuda":
            torch.cuda.empty_cache()

    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    table = markdown(hpt, results)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    return 1 if failures else 0


def cell(run, key):
    """'1.234' for (a); '5.678 (30)' for (b) with its evaluation count; '—' when absent."""
    if run is None or key not in run:
        return "—"
    r = run[key]
    if "error" in r:
        return "error"
    text = f"{r['seconds']:.3f}"
    if "likelihood_evaluations" in r:
        count = r["likelihood_evaluations"]
        per = r["fit_seconds"] / max(count, 1)
        text += f" ({count} × {per * 1e3:.1f} ms)"
    return text


def markdown(hpt, torch_results):
    s = hpt["settings"]
    by_backend = {}
    for r in hpt["runs"]:
        by_backend[(r["backend"], r["n"])] = r
    lines = [
        f"GP on {torch_results['device']}, FP64, d = {s['dims']}, {s['candidates']} candidates; "
        f"seconds (median of runs for (a)). (b) adds the number of likelihood-and-gradient "
        f"evaluations of the fit (budget {s['fit_evaluations']}; NLopt's and torch's L-BFGS may "
        f"overrun it by a line search) and the fit's seconds per evaluation. "
        f"torch {torch_results['torch']}, gpytorch {torch_results['gpytorch']}.",
        "",
        "| n | (a) hpt CUDA | (a) hpt Eigen | (a) GPyTorch | (a) GPyTorch vs hpt (mean / var) "
        "| (b) hpt CUDA | (b) hpt Eigen | (b) GPyTorch |",
        "|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for t in torch_results["runs"]:
        n = t["n"]
        cuda, eigen = by_backend.get(("cuda", n)), by_backend.get(("eigen", n))
        check = t.get("check")
        verdict = "—" if check is None else (
            f"{check['mean']:.1e} / {check['variance']:.1e} "
            f"{'ok' if check['ok'] else 'FAIL'}")
        lines.append(f"| {n} | {cell(cuda, 'fixed')} | {cell(eigen, 'fixed')} | "
                     f"{cell(t, 'fixed')} | {verdict} | {cell(cuda, 'full')} | "
                     f"{cell(eigen, 'full')} | {cell(t, 'full')} |")
    cross = hpt.get("crossover")
    if cross:
        lines += ["", f"Crossover (hpt, Eigen vs CUDA; fit + posterior of {cross['candidates']} "
                      "candidates):", "",
                  "| n | likelihood+gradient Eigen | CUDA | fit+posterior Eigen | CUDA |",
                  "|---:|---:|---:|---:|---:|"]
        for row in cross["rows"]:
            e, c = row.get("eigen", {}), row.get("cuda", {})
            lines.append(
                f"| {row['n']} | {e.get('likelihood_and_gradient_seconds', math.nan):.4f} | "
                f"{c.get('likelihood_and_gradient_seconds', math.nan):.4f} | "
                f"{e.get('fixed_fit_and_posterior_seconds', math.nan):.4f} | "
                f"{c.get('fixed_fit_and_posterior_seconds', math.nan):.4f} |")
        def since(n):
            return "never in this range" if n is None else f"n = {n}"
        lines += ["", f"CUDA is faster from {since(cross['likelihood_crossover_n'])} "
                      f"(likelihood) and from {since(cross['fixed_fit_crossover_n'])} "
                      "(fit + posterior)."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
