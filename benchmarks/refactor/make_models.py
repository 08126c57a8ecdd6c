# Trains the four tree models of the A/B check (5 000 rows, 50 features) into the current folder.
import numpy as np, xgboost as xgb, lightgbm as lgb, mlinfer
from sklearn.ensemble import RandomForestClassifier, HistGradientBoostingClassifier
rng=np.random.default_rng(0); X=rng.normal(size=(5000,50)).astype(np.float32); y=(X[:,0]+X[:,1]*X[:,2]+rng.normal(size=5000)>0).astype(int)
xgb.XGBClassifier(n_estimators=500,max_depth=8,n_jobs=2).fit(X,y).save_model("./xgb.json")
lgb.LGBMClassifier(n_estimators=500,num_leaves=63,verbose=-1,n_jobs=2).fit(X,y).booster_.save_model("./lgb.txt")
mlinfer.export(RandomForestClassifier(100,max_depth=10,n_jobs=2,random_state=0).fit(X,y),"./rf.mli")
mlinfer.export(HistGradientBoostingClassifier(max_iter=200,random_state=0).fit(X,y),"./hgb.mli")
Xt=rng.normal(size=(100000,50)); np.save("./X.npy",Xt)
