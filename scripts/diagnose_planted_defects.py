"""The planted-defect table of rnnflow.diagnose (issue 11): each case, in both backends, with
its verdict, factor and crossing step/layer. The same constructions are checked with stated
tolerances in tests/test_diagnose.py; this prints them as one table (~25 s on 2 cores):

    python scripts/diagnose_planted_defects.py
"""
import jax; jax.config.update("jax_enable_x64", True)
import math, numpy as np, rnnflow
from rnnflow import *
from rnnflow.params import init_params
from rnnflow.tasks import load_digits_split, upsample_digits
H=16
digits = upsample_digits(load_digits_split(0)["x_train"][:32]).astype(np.float64)
R = lambda shape, scale=1.0: scale*np.random.default_rng(1234).standard_normal(shape)
cases = [
 ("sigmoid MLP 784-128-10, N(1,1) (seed 001)", MLPConfig(784,10,width=128,depth=1,activation="sigmoid",init_weight=Init("normal",mean=1.0,std=1.0)), digits, 0),
 ("tanh RNN, W_hh = 0.5 Q, x~1e-3", RNNConfig(4,16,init_hh=Init("orthogonal",spectral_radius=0.5),output_size=2), R((30,3,4),1e-3), 0),
 ("tanh RNN, Gaussian rho=0.5, x~1e-3", RNNConfig(4,H,init_hh=Init("normal",std=1/math.sqrt(H),spectral_radius=0.5),output_size=2), R((60,3,4),1e-3), 3),
 ("tanh RNN, W_hh = 3 Q, x~N(0,1)", RNNConfig(2,16,init_hh=Init("orthogonal",spectral_radius=3.0),output_size=1), R((120,2,2)), 0),
 ("tanh RNN rho=0.9, x~3 (saturated)", RNNConfig(4,H,init_hh=Init("normal",std=1/math.sqrt(H),spectral_radius=0.9),init_ih=Init("normal",std=1.0),output_size=1), R((40,2,4),3.0), 0),
 ("LSTM forget bias -3", LSTMConfig(3,8,forget_bias=-3.0,output_size=1,init_ih=Init("uniform",low=-0.1,high=0.1),init_hh=Init("uniform",low=-0.1,high=0.1)), R((20,2,3)), 0),
 ("post-LN Transformer, 6 layers", TransformerConfig(4,d_model=8,num_heads=2,num_layers=6,norm="post",output_size=4), R((6,2,4)), 0),
 ("no-LN Transformer, 24 layers", TransformerConfig(4,d_model=8,num_heads=2,num_layers=24,norm="none",output_size=4), R((6,2,4)), 0),
 ("ReLU MLP depth 20, He x3", MLPConfig(64,4,width=64,depth=20,activation="relu",init_weight=Init("he_normal",gain=3.0)), R((8,64)), 0),
 ("stacked tanh RNN, 6 layers, W_ih~U(+-0.02)", RNNConfig(4,12,num_layers=6,init_ih=Init("uniform",low=-0.02,high=0.02),output_size=2), R((6,2,4)), 0),
 ("control: LSTM forget bias 1", LSTMConfig(3,8,forget_bias=1.0,output_size=1), R((16,2,3)), 0),
 ("control: pre-LN Transformer, 6 layers", TransformerConfig(4,d_model=8,num_heads=2,num_layers=6,norm="pre",output_size=4), R((6,2,4)), 0),
 ("control: tanh RNN W_hh = Q, T=16", RNNConfig(3,8,init_hh=Init("orthogonal",spectral_radius=1.0)), R((16,2,3),0.1), 0),
]
print("| case | backend | verdict | factor (number) | step / layer |")
print("|---|---|---|---|---|")
for name, cfg, x, seed in cases:
    for be in ("torch","jax"):
        d = rnnflow.diagnose(cfg, x, params=init_params(cfg, seed=seed, dtype=np.float64), backend=be)
        where=[]
        if d.time is not None:
            where.append(f"time: gap {d.time.crossing}" if d.time.crossing is not None else "time: no crossing")
        if d.depth is not None:
            where.append(f"depth: layer {d.depth.crossing} ({d.depth.steps_back} below top)" if d.depth.crossing is not None else "depth: no crossing")
        f = d.responsible
        num = ""
        if f is not None:
            v = f.value
            num = f" ({v:.3g})" if isinstance(v, float) else f" ({v})"
        print(f"| {name} | {be} | {d.verdict} | {d.factor or '-'}{num} | {'; '.join(where)} |")
