# One A/B sample: predict_proba rows/s (1 thread; float32, and float64 equal to float32) and batch-1 latency.
import sys, time, json, numpy as np, mlinfer
mlinfer.set_num_threads(1) if hasattr(mlinfer,"set_num_threads") else None
X64=np.load("./X.npy"); X32=X64.astype(np.float32); X64=X32.astype(np.float64)
res={}
for name,f in [("xgb","xgb.json"),("lgb","lgb.txt"),("rf","rf.mli"),("hgb","hgb.mli")]:
    m=mlinfer.load("./"+f)
    for dt,X in [("f32",X32),("f64",X64)]:
        n=20000 if dt=="f64" and name in("lgb","hgb") else 100000
        m.predict_proba(X[:2000]); ts=[]
        for _ in range(3):
            t=time.perf_counter(); m.predict_proba(X[:n]); ts.append(time.perf_counter()-t)
        res[f"{name}.{dt}.rows_per_s"]=n/min(ts)
    r=X32[:1]; m.predict_proba(r); ts=[]
    for _ in range(5):
        t=time.perf_counter()
        for _ in range(2000): m.predict_proba(r)
        ts.append((time.perf_counter()-t)/2000*1e6)
    res[f"{name}.batch1_us"]=min(ts)
print(json.dumps(res))
