# One A/B sample: one row from Python, best of 7 x 3000 calls, for three models.
import time, json, numpy as np, mlinfer
mlinfer.set_num_threads(1)
X=np.load("./X.npy")[:1].astype(np.float32)
res={}
for name,f in [("xgb","xgb.json"),("hgb","hgb.mli"),("rf","rf.mli")]:
    m=mlinfer.load("./"+f); m.predict_proba(X); ts=[]
    for _ in range(7):
        t=time.perf_counter()
        for _ in range(3000): m.predict_proba(X)
        ts.append((time.perf_counter()-t)/3000*1e6)
    res[name]=round(min(ts),2)
print(json.dumps(res))
