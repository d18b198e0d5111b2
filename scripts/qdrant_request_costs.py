"""What one lookalike search costs in Qdrant requests, by kind (README "Scale-out").

Times, over 40 points of a collection written by `lookalike index --qdrant`: reading a point
with its vector (by-id queries), a batch of three searches (hits, likeliest kind, vote), of
one, one exact, and reading the 10 hits' vectors. Two searches per ranking (named shape and
colour vectors fused) would cost what the second search of the batch costs.

    python3 scripts/qdrant_request_costs.py http://127.0.0.1:6333 COLLECTION
"""
import sys
import json, time, urllib.request, random
U=f"{sys.argv[1]}/collections/{sys.argv[2]}"
def post(path, body):
    req=urllib.request.Request(U+path, data=json.dumps(body).encode(), headers={"content-type":"application/json"})
    t=time.perf_counter(); r=json.load(urllib.request.urlopen(req)); return r["result"], (time.perf_counter()-t)*1e3
pts,_=post("/points/scroll",{"limit":200,"with_payload":False,"with_vector":False})
ids=[p["id"] for p in pts["points"]]
tot={"retrieve":[], "batch3":[], "batch1":[], "batch1_exact":[], "vectors10":[], "batch3_k10":[]}
for i in ids[:40]:
    r,t=post("/points",{"ids":[i],"with_vector":True,"with_payload":["product_id"]}); tot["retrieve"].append(t)
    v=r[0]["vector"]
    s=lambda lim, ex=False: {"query":v,"limit":lim,"filter":{"must_not":[{"has_id":[i]}]},"with_payload":["product_id","labels","classes"],"params":{"exact":ex} if ex else {"hnsw_ef":128}}
    r,t=post("/points/query/batch",{"searches":[s(40),s(40),s(10)]}); tot["batch3"].append(t)
    r,t=post("/points/query/batch",{"searches":[s(10),s(10),s(10)]}); tot["batch3_k10"].append(t)
    r,t=post("/points/query/batch",{"searches":[s(40)]}); tot["batch1"].append(t)
    r,t=post("/points/query/batch",{"searches":[s(40,True)]}); tot["batch1_exact"].append(t)
    hits=[p["id"] for p in r[0]["points"][:10]]
    r,t=post("/points",{"ids":hits,"with_vector":True,"with_payload":False}); tot["vectors10"].append(t)
for k,v in tot.items():
    v.sort(); print(k, "p50 %.1f ms"%v[len(v)//2], "p90 %.1f"%v[int(len(v)*.9)])
