"""Write notebooks/theory.ipynb with nbformat (parameters cell generated from TheoryConfig).
Run: python scripts/make_theory_notebook.py
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbcells import code, md, notebook, parameters_cell

from pruninglib.config import TheoryConfig

OUT = Path(__file__).resolve().parents[1] / "notebooks" / "theory.ipynb"
# Measured on the shared 2-core CPU of the run card, rounded; update after re-measuring.
TIMES = {"smoke": "under 1 min", "quick": "about 1.5 min", "paper": "7 to 11 min"}

INTRO = r"""
# How L1 and L2 shape node pruning

The stochastic-pruning papers {cite}`benguigui2020role,ziv2021stochastic` observe that weights zeroed at random,
favouring small ones, empty *whole nodes* when the network also trains with a regularizer, and compare L1 with L2.
This chapter explains why, in three steps, and checks every step with a computation on this page rather than
asserting it:

- **(a) update rules**: what one step of L2 or L1 does to a weight, and why only the proximal form of L1 makes
  exact zeros;
- **(b) the rescaling argument**: on a ReLU unit, weight decay is a penalty on the *product* of the unit's
  incoming and outgoing norms, so it acts on whole units; the L1 analogue; how BatchNorm breaks the incoming side;
- **(c) stochastic zeroing**: what random zeroing adds to L2, and why together they kill units faster than either
  alone.

```{admonition} What is the papers' and what is ours
:class: warning
The derivations in (a) and (b) are standard results: the proximal view of L1 (soft-thresholding), the rescaling
argument of Neyshabur, Tomioka and Srebro {cite}`neyshabur2015inductive`, and the scale invariance of BatchNorm
with its effect on the learning rate {cite}`vanlaarhoven2017l2`. The papers reproduced in this book do not derive
them (as far as their public abstracts show); they are this book's explanation of the papers' observations. The
zeroing probability $p(w)$ in (c) is **our reconstruction** (see {doc}`mlp_mnist`), not the authors' formula. The
networks (a 784-hidden-10 ReLU MLP and a small BatchNorm CNN on a subset of MNIST {cite}`lecun1998mnist`) are
ours, chosen to be small enough to train in seconds.
```

```{admonition} Reproduce this chapter
:class: tip
| profile | command | wall time, 2 CPU cores | what it is |
|---|---|---|---|
| `smoke` | `pruninglib run theory --profile smoke` | SMOKE_TIME | 500 images, 2 epochs, 32 hidden units: tests only (far too short for the trained-network claims) |
| `quick` | `pruninglib run theory --profile quick` | QUICK_TIME | 5,000 images, 15 epochs, 128 hidden units, 1 seed |
| `paper` | `pruninglib run theory --profile paper` | PAPER_TIME | 10,000 images, 20 epochs, 128 hidden units, 3 seeds (this page) |

Add `-p NAME VALUE` to change any parameter of the cell below, for example `-p lambda_l2 0.05`.
```

The cell below holds every parameter of this chapter, at the `smoke` profile's values; papermill injects the
profile's values after it (the values actually used are in the run card further down).
"""

RUN = r"""
Every computation of the page runs in the next cell: the single-weight demos, the minimisation over random units,
and the training runs, one per (variant, seed): the MLP with no penalty (`none`), with L2 (`l2`), with L1 (`l1`),
with stochastic zeroing alone (`zero`), zeroing and L2 (`zero+l2`), zeroing and L1 (`zero+l1`), and the BatchNorm
CNN without and with L2 (`bn`, `bn+l2`). All use SGD with Nesterov momentum 0.9 and a cosine learning-rate decay,
with the penalty added to the loss (on the weight matrices; biases and BatchNorm parameters are not penalised).
The coefficients (`lr` 0.1, `lambda_l2` 0.02, `lambda_l1` 1e-4, `bn_lambda` 0.02) were set once, by one run of the
`quick` profile, after a first choice ($\lambda_2$ = 0.005, `lr` 0.05) had left the L2 net far from balance: the
balance needs $\sum_t \eta_t\lambda$ to be large, and the trained-network claims below hold only when training is
long enough for that (they do not hold at the `smoke` profile).
"""

CLAIMS = r"""
## The claims, checked

Each line is a claim derived below, the number this run measured, what the claim requires, and whether it holds.
The sections that follow derive each claim and show the computation behind it.
"""

SEC_A = r"""
## (a) Update rules: a multiplicative shrink, a constant-rate shrink, a soft threshold

Take one weight $w$, a loss with gradient $g = \partial L / \partial w$, learning rate $\eta$ and a penalty
$R(w)$. A gradient step is $w \leftarrow w - \eta\,(g + R'(w))$.

**L2.** With $R(w) = \frac{\lambda}{2} w^2$, $R'(w) = \lambda w$ and

$$
w \leftarrow (1 - \eta\lambda)\, w - \eta g .
$$ (eq-l2-step)

The penalty multiplies the weight by $1 - \eta\lambda$ at every step: this is *weight decay*. A weight that receives
no loss gradient ($g = 0$) follows $w_t = (1-\eta\lambda)^t\, w_0$. For $0 < \eta\lambda < 1$ this is never exactly
zero: it halves every $\ln 2 / \eta\lambda$ steps, fast for large weights in absolute terms and ever more slowly
near zero.

**L1, subgradient step.** With $R(w) = \lambda |w|$, $R'(w) = \lambda\,\mathrm{sign}(w)$ and

$$
w \leftarrow w - \eta\lambda\,\mathrm{sign}(w) - \eta g .
$$ (eq-l1-step)

Every weight moves towards zero by the same amount $\eta\lambda$, whatever its size: alone, $w_t = w_0 -
t\,\eta\lambda\,\mathrm{sign}(w_0)$ until it reaches zero. But a step of fixed length overshoots: once $|w| <
\eta\lambda$ the weight jumps to the other side and then hops around zero with $|w| \le \eta\lambda$. It is exactly
zero only by coincidence (and in floating point, rounding breaks the coincidence).

**L1, proximal step.** The proximal gradient method takes the loss step first and then solves the penalty part
exactly: $w \leftarrow \arg\min_z \frac{1}{2\eta}(z - w')^2 + \lambda|z|$ with $w' = w - \eta g$, whose solution is
the *soft threshold*

$$
w \leftarrow S_{\eta\lambda}(w - \eta g), \qquad S_\tau(z) = \mathrm{sign}(z)\,\max(|z| - \tau,\, 0) .
$$ (eq-soft)

Alone, it reaches exactly zero at step $t^* = \lceil |w_0| / \eta\lambda \rceil$ and stays there. The library has
all three rules as `pruninglib.regularizers.penalty_update` (`l2`, `l1`, `prox_l1`); below, the `l2` and `l1`
steps are taken by `torch.optim.SGD` on the library's penalties, the proximal one by the library's
`soft_threshold`, and each is drawn on its closed form:
"""

SEC_A2 = r"""
**What the penalty does to the minimiser.** Add the loss $L(w) = \frac{a}{2}(w - w^*)^2$, whose minimiser without a
penalty is $w^*$. Setting the gradient to zero gives the fixed point of each rule:

$$
\text{L2:}\ \ a(w - w^*) + \lambda w = 0 \ \Rightarrow\ w = \frac{a}{a + \lambda}\, w^* ,
\qquad
\text{L1:}\ \ 0 \in a(w - w^*) + \lambda\,\partial|w| \ \Rightarrow\ w = S_{\lambda/a}(w^*) .
$$ (eq-fixed)

L2 scales every weight by the same factor and never zeroes one that the loss wants non-zero; L1 subtracts a
constant and sets every weight with $|w^*| \le \lambda / a$ (the grey band) to zero, but only the proximal iteration
lands there exactly. Gradient descent for 400 steps from $w = 0$, for 81 values of $w^*$:
"""

SEC_B = r"""
## (b) The rescaling argument: weight decay is a penalty on whole units

Take hidden unit $j$ of a ReLU network, with incoming weights $u_j$ (its {term}`fan-in`), bias $b_j$ and outgoing
weights $v_j$ (its {term}`fan-out`). It adds $v_j\,\mathrm{relu}(u_j^\top x + b_j)$ to the next layer. Since
$\mathrm{relu}(cz) = c\,\mathrm{relu}(z)$ for $c > 0$,

$$
(u_j,\ b_j,\ v_j) \ \to\ (c\,u_j,\ c\,b_j,\ v_j / c) \quad\text{leaves the network's function unchanged.}
$$ (eq-rescale)

The loss cannot tell these networks apart, but the L2 penalty can. Over the rescaling,

$$
\min_{c > 0}\ \tfrac12\left(c^2\|u_j\|^2 + \frac{\|v_j\|^2}{c^2}\right) = \|u_j\|\,\|v_j\| ,
\qquad c^* = \sqrt{\|v_j\| / \|u_j\|} ,
$$ (eq-group)

(set the derivative $c\|u_j\|^2 - \|v_j\|^2/c^3$ to zero), and at $c^*$ the two halves are equal: the unit is
*balanced*, $\|c^* u_j\| = \|v_j / c^*\|$. This is the arithmetic-geometric mean inequality
$\frac12(\alpha^2 + \beta^2) \ge \alpha\beta$, with equality iff $\alpha = \beta$. Training minimises
$L + \frac{\lambda}{2}\sum_j(\|u_j\|^2 + \|v_j\|^2)$, and $L$ is flat along every unit's rescaling, so at any
stationary point the derivative along it, $\lambda(\|u_j\|^2 - \|v_j\|^2)$, vanishes: every unit is balanced and the
penalty *equals* $\lambda \sum_j \|u_j\|\,\|v_j\|$ {cite}`neyshabur2015inductive`.

Why that matters for pruning: $s_j = \|u_j\|\,\|v_j\|$ is the unit's size in a rescaling-invariant sense (how much
it can contribute to the output), and weight decay is $\lambda\sum_j s_j$, an **L1 norm over units**. Like L1 on
weights, which sets weights to zero, it sets whole units' $s_j$ to zero: a unit that is not worth its cost shrinks
on both sides together. The L1 analogue is

$$
\min_{c > 0}\ \left(c\,\|u_j\|_1 + \frac{\|v_j\|_1}{c}\right) = 2\sqrt{\|u_j\|_1\,\|v_j\|_1},
\qquad c^* = \sqrt{\|v_j\|_1 / \|u_j\|_1} ,
$$ (eq-group-l1)

a sum of *square roots* of unit sizes, which favours few units even more strongly (it is concave in $s_j$), on top
of the scattered zeros that L1 makes inside $u_j$ and $v_j$. Both minima are checked numerically below on random
units far from balance (Brent's method on $\log c$), and the invariance {eq}`eq-rescale` on a random network with
every unit rescaled by a different $c_j$: exact for ReLU, false for tanh, which is not positively homogeneous.
"""

SEC_B_BAL = r"""
**Balance in a trained network.** The 784-hidden-10 MLP trained with L2 should end balanced, with its penalty equal
to $\sum_j\|u_j\|\,\|v_j\|$; trained without a penalty it has no reason to (under gradient flow
$\|u_j\|^2 + b_j^2 - \|v_j\|^2$ is even conserved, so it keeps its initial imbalance). Each dot is one hidden unit,
grey at initialisation, coloured at the end of training; the diagonal is balance:
"""

SEC_B_UNITS = r"""
**Whole units or scattered weights.** Left, the distribution of $\log_{10}\|u_j\|\,\|v_j\|$ at the end: units
that a penalty has given up on sit far below the others, both of their sides small together. Both penalties leave
such units, as {eq}`eq-group` and {eq}`eq-group-l1` predict; without a penalty there are none. Right, inside the living
units, the Hoyer sparsity of the fan-in $(\sqrt n - \|u_j\|_1/\|u_j\|_2)/(\sqrt n - 1)$ (0 when all weights have
the same magnitude, 1 for a single non-zero weight): L1 concentrates each unit on fewer inputs (scattered small
weights), L2 hardly changes the shape of a unit, it changes its size.
"""

SEC_BN = r"""
### BatchNorm breaks the incoming side

Put BatchNorm after the linear map: $z_j = \gamma_j\, \frac{u_j^\top x - \mu_j}{\sqrt{\sigma_j^2 + \epsilon}} +
\beta_j$, where $\mu_j$ and $\sigma_j^2$ are the mean and variance of $u_j^\top x$ over the batch. Scaling $u_j$ by
$c > 0$ scales $\mu_j$ and $\sigma_j$ by $c$ too, so (up to $\epsilon$)

$$
L(c\,u_j) = L(u_j) \ \ \forall c > 0
\quad\Rightarrow\quad
u_j^\top \nabla_{u_j} L = 0 , \qquad \nabla L(c\,u_j) = \tfrac{1}{c}\,\nabla L(u_j)
$$ (eq-bn)

(differentiate in $c$ at $c = 1$, and differentiate the identity in $u_j$). Three consequences
{cite}`vanlaarhoven2017l2`. The loss gradient never changes $\|u_j\|$ to first order, and with plain SGD and weight
decay $\|u_{t+1}\|^2 = (1-\eta\lambda)^2\|u_t\|^2 + \eta^2\|\nabla L\|^2$ (Pythagoras): weight decay shrinks the
filter, the gradient term, which grows as $1/\|u\|$, pushes back, and the norm settles, never at zero. The function
does not depend on $\|u_j\|$ at all, so the shrinking costs nothing and buys nothing: **there is no pressure to kill
a channel through its incoming weights.** What the shrinking does change is the step on the direction
$u_j/\|u_j\|$, which is $\eta\,\|\nabla L(u_j/\|u_j\|)\| / \|u_j\|^2$: the *effective learning rate*
$\eta / \|u_j\|^2$ grows as weight decay shrinks the filter. The rescaling symmetry that is left is
$(\gamma_j, \beta_j, v_j) \to (c\gamma_j, c\beta_j, v_j/c)$; penalising $\gamma_j$ makes the unit-level penalty
$|\gamma_j|\,\|v_j\|$ reappear, which is why network slimming puts L1 on the BatchNorm scales {cite}`liu2017slimming`
(and why the {doc}`covid_cnn` chapter has a `penalize_bn_scale` switch). The checks, on the trained CNNs of this
run (training mode, one batch of training images, the first block's filters, in float64 so that float32 rounding
does not hide what is left: BatchNorm's $\epsilon$):
"""

SEC_BN2 = r"""
Without weight decay the filter norms *grow* (each orthogonal step adds $\eta^2\|\nabla L\|^2$) and the effective
learning rate falls; with it they stay smaller and the effective learning rate stays higher, while every channel
keeps working (cosine decay takes the learning rate itself to zero at the end of training). Two of the claims
table's BatchNorm lines can fail without contradicting {eq}`eq-bn`: the loss invariance of the L2 net, whose
shrunken filters bring $\epsilon$ into play (exercise 4), and the accuracy cost of L2, which is not only the
filters': the linear head has no BatchNorm, so decay on it is an ordinary regularizer, and the growing effective
learning rate changes the optimisation. The table says which of them held in this run.
"""

SEC_C = r"""
## (c) What stochastic zeroing adds

Stochastic pruning zeroes each surviving weight after every step with probability $p(w)$, larger for small $|w|$
(our reconstruction: $p(w) = \min\{1, \rho\,e^{-|w|/\tau}\}$, $\tau$ a fraction of the layer's weight spread and
$\rho$ set by the sparsity schedule), and keeps zeros at zero. A unit dies when *every one* of its fan-in weights has
been drawn. Three mechanisms from (a) and (b) decide which units those are:

1. **Starving.** Once all outgoing weights $v_j$ of a unit are zero, its incoming weights get no loss gradient
   ($\nabla_{u_j}L$ is proportional to $v_j$). Under L2 they then decay together,
   $u_{j,t} = (1-\eta\lambda)^t u_{j,t_0}$, until they are the smallest weights of the layer and are drawn first.
   Without a penalty a starved unit's weights stay where they are and die only at the layer's average rate; under
   L1 they shrink at a constant rate and then hover at $\pm\eta\lambda$ {eq}`eq-l1-step`.
2. **Balance.** By {eq}`eq-group`, L2 keeps $\|u_j\| \approx \|v_j\|$: a unit with weak outgoing weights has weak
   incoming weights too, so both sides are targeted by $p(w)$ at once.
3. **The product over a unit.** The chance that a unit is emptied is a product over its weights; it is only large
   when *all* of them are small. L2 makes the weights of a weakly used unit small together; L1 makes small weights
   scattered over all units, each of which keeps a few large ones.

Hence the prediction: with the same sparsity schedule, zeroing plus L2 kills units faster and more than zeroing
alone, and L2 alone never kills a unit exactly. The fraction of hidden units dead, step by step (mean over seeds,
band from the smallest to the largest seed; dashed: L2 alone, *numerically* dead, i.e.
$\|u_j\|\,\|v_j\|$ below `dead_tol` times its initial mean):
"""

SEC_C2 = r"""
**Comparison with the MLP chapter.** In {doc}`mlp_mnist` the same reconstruction of stochastic pruning on a
784-300-100-10 network, at the same weight sparsity for every variant, killed about twice as many hidden nodes with a
regularizer as without one (its findings give the numbers per seed). That agrees with (c): the schedule fixes how
many weights are zeroed, the regularizer decides whether they fall on the same units. There, L1 killed about as
many nodes as L2; for this run, compare the `zero+l1` and `zero+l2` numbers above. Nothing in (b) makes L1 the weaker
one (its unit-level penalty {eq}`eq-group-l1` is even more unit-sparsifying); what differs is the dynamics of (a): a
starved weight under L1 hovers at $\pm\eta\lambda$, and whether that is small enough to be drawn first depends on
$\eta\lambda$ relative to the layer's weight spread, so the comparison depends on the coefficients. Exercise 3
below varies `lambda_l1`.

The trajectories of individual units tell the same story. Fan-in norm $\|u_j\|$ of the first 24 hidden units of the
first seed, with zeroing alone and with zeroing and L2 (units that die drop to zero):
"""

EXERCISES = r"""
## Exercises

1. Show that the proximal step {eq}`eq-soft` is the minimiser of $\frac{1}{2\eta}(z - w')^2 + \lambda|z|$.

   ```{admonition} Solution
   :class: dropdown
   For $z > 0$ the objective is differentiable with derivative $(z - w')/\eta + \lambda$, zero at
   $z = w' - \eta\lambda$, which is positive iff $w' > \eta\lambda$; likewise $z = w' + \eta\lambda < 0$ iff
   $w' < -\eta\lambda$. Otherwise ($|w'| \le \eta\lambda$) the subdifferential at $z = 0$, $-w'/\eta + \lambda[-1, 1]$,
   contains 0, so $z = 0$ is the minimiser. Together: $z = \mathrm{sign}(w')\max(|w'| - \eta\lambda, 0) =
   S_{\eta\lambda}(w')$.
   ```

2. A unit of the MLP has $\|u_j\| = 0.6$ and $\|v_j\| = 0.15$ (about what the default initialisation gives a
   784-wide fan-in and a 10-wide fan-out). What does weight decay charge it now, what would it charge after
   rebalancing, and which rescaling achieves that?

   ```{admonition} Solution
   :class: dropdown
   Now $\frac{\lambda}{2}(0.36 + 0.0225) = 0.191\lambda$. After rebalancing, $\lambda\|u_j\|\|v_j\| = 0.09\lambda$,
   less than half, with $c^* = \sqrt{0.15/0.6} = 0.5$: $u_j \to 0.5\,u_j$ (norm 0.3) and $v_j \to 2 v_j$ (norm
   0.3). Training with L2 performs this rebalancing on its own (the scatter plots above), before it starts to
   shrink $\|u_j\|\|v_j\|$ itself.
   ```

3. Run `pruninglib run theory --profile quick -p lambda_l1 0.0003` and then with `-p lambda_l1 0.00003`. How does
   the death curve of `zero+l1` move against `zero+l2`, and what happens to the accuracy of the `l1` net?

   ```{admonition} Solution
   :class: dropdown
   A larger $\lambda_1$ drives starved weights to zero faster (the constant-rate shrink of {eq}`eq-l1-step` is
   $\eta\lambda_1$ per step, times about 10 with momentum 0.9) and makes more of them hover near zero, where $p(w)$
   draws them: `zero+l1` kills more units, at some cost in accuracy. A smaller one makes L1 almost no penalty and
   `zero+l1` approaches `zero`. Neither changes the argument of (b): which of L1 and L2 kills more units depends on
   the coefficients and the training length, not on a law of nature.
   ```

4. In {eq}`eq-bn` the invariance holds "up to $\epsilon$". For which filters does $\epsilon$ matter, and what does
   the BatchNorm check above measure for them?

   ```{admonition} Solution
   :class: dropdown
   The normalisation divides by $\sqrt{c^2\sigma_j^2 + \epsilon}$ instead of $c\sqrt{\sigma_j^2 + \epsilon}$;
   the two agree when $c^2\sigma_j^2 \gg \epsilon$. For a filter whose pre-activations have a tiny variance (a
   tiny filter, or a very small $c$), $\epsilon$ dominates, the output shrinks with $c$ and the invariance fails:
   then weight decay *does* reach the function, and a filter could be driven towards zero. The check measures
   $|L(cu) - L(u)| / L(u)$ for $c \in [0.25, 4]$. It is larger for the net trained with L2, whose filters weight
   decay has made small, and it grows if you add smaller values of $c$ to `bn_invariance`: the very shrinking that
   weight decay causes brings $\epsilon$ into play.
   ```

5. Why does the claim "zeroing + L2 kills more units than either alone" need both a sparsity schedule and a
   penalty, and what would happen with L2 alone trained ten times longer?

   ```{admonition} Solution
   :class: dropdown
   L2 alone shrinks an unused unit geometrically, $(1-\eta\lambda)^t$, so ten times longer makes its norm
   astronomically small but never zero: it is *numerically* dead (the dashed curve rises) but surgery could only
   remove it by rounding, that is by adding a threshold, which is a pruning rule. Zeroing alone makes exact zeros,
   but spreads them over all units. The combination makes the exact zeros fall on the units L2 has emptied.
   ```
"""


def build() -> nbformat.NotebookNode:
    intro = INTRO
    for k, v in TIMES.items():
        intro = intro.replace(f"{k.upper()}_TIME", v)
    cells = [
        md(intro),
        parameters_cell(TheoryConfig),
        md(RUN),
        code("""
from IPython.display import Markdown, display

from pruninglib.config import TheoryConfig
from pruninglib.experiments import theory
from pruninglib.experiments.theory_claims import claims_table, findings
from pruninglib.plots import theory as plots
from pruninglib.tracking import run_card

cfg = TheoryConfig.from_mapping(globals())  # validates every parameter before any work
result = theory.run(cfg)
text = findings(result.results)
""", ["remove-stderr", "nbval-ignore-output"]),
        md("## Run card"),
        code("display(Markdown(run_card(result.results)))", ["remove-input"]),
        md(CLAIMS),
        code("display(Markdown(claims_table(result.results)))", ["remove-input"]),
        md(SEC_A),
        code("fig = plots.update_rules(result.trajectories)"),
        code("""
m = result.results["measured"]
print("first step at which w is exactly 0:", m["first_exact_zero"])
print(f"eta * lambda = {cfg.scalar_lr * cfg.scalar_lambda:.3g}")
"""),
        md(SEC_A2),
        code("fig = plots.shrinkage(result.shrinkage, cfg.scalar_lambda / cfg.curvature)"),
        code("""
print("largest |descent - closed form| per rule:", {k: f"{v:.1e}" for k, v in m["shrinkage_max_error"].items()})
print("fraction exactly 0 for |w*| <= lambda/a:", m["in_band_exact_zero_fraction"])
"""),
        md(SEC_B),
        code("fig = plots.rescaling(result.minima, result.curves)"),
        code("""
print(result.minima.groupby("penalty")[["rel_error"]].max().rename(columns={"rel_error": "max relative error"}))
inv = m["rescaling_invariance"]
print(f"max |f - f'| after rescaling every unit: ReLU {inv['max_abs_diff_relu']:.1e}, "
      f"tanh {inv['max_abs_diff_tanh']:.2f} (largest |f|: {inv['max_abs_output_relu']:.2f})")
"""),
        md(SEC_B_BAL),
        code("fig = plots.balance(result.units, ['none', 'l2', 'l1'])"),
        code("display(Markdown(text['balance']))", ["remove-input"]),
        md(SEC_B_UNITS),
        code("fig = plots.unit_distributions(result.units, ['none', 'l2', 'l1'], fan_in=784)"),
        code("display(Markdown(text['units']))", ["remove-input"]),
        md(SEC_BN),
        code("display(Markdown(text['batchnorm']))", ["remove-input"]),
        md(SEC_BN2),
        code("fig = plots.batchnorm(result.units[result.units['variant'].str.startswith('bn')])"),
        md(SEC_C),
        code("fig = plots.death_curves(result.deaths, ['zero', 'zero+l2', 'zero+l1'], ['l2'])"),
        code("display(Markdown(text['zeroing']))", ["remove-input"]),
        md(SEC_C2),
        code("fig = plots.unit_trajectories(result.units, ['zero', 'zero+l2'], nodes=24)"),
        md(EXERCISES),
    ]
    return notebook(cells)


if __name__ == "__main__":
    nbformat.write(build(), OUT)
    print(f"wrote {OUT}")
