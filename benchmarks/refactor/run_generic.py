# One A/B sample: the generic walk (float64 values no float32 can hold) on LightGBM and HistGradientBoosting.
import time, json, numpy as np, mlinfer
mlinfer.set_num_threads(1)
X=np.load("./X.npy")[:10000]
res={}
for name,f in [("lgb","lgb.txt"),("hgb","hgb.mli")]:
    m=mlinfer.load("./"+f); m.predict_proba(X[:500]); ts=[]
    for _ in range(3):
        t=time.perf_counter(); m.predict_proba(X); ts.append(time.perf_counter()-t)
    res[name+".generic_f64"]=len(X)/min(ts)
print(json.dumps(res))
