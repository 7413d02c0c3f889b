def test_smoke(client):
    r = client.post("/v1/couples", json={})
    print(r.status_code, r.json)
    cid, tok = r.json["id"], r.json["token"]
    h = {"Authorization": f"Bearer {tok}"}
    r = client.get(f"/v1/couples/{cid}/tonight", headers=h); print(r.status_code, r.json)
    r = client.get(f"/v1/couples/{cid}/tonight?budget=9", headers=h); print(r.status_code, r.json)
    r = client.post(f"/v1/couples/{cid}/dates", headers=h, json={"idea_id": r.json and "x", "ratings": {"a": 5}}); print(r.status_code, r.json)
    idea = client.get("/v1/ideas").json["ideas"][0]["id"]
    r = client.post(f"/v1/couples/{cid}/dates", headers=h, json={"idea_id": idea, "ratings": {"a": 5}}); print(r.status_code, r.json)
    r = client.get(f"/v1/couples/{cid}/dates", headers=h); print(r.status_code, r.json)
    r = client.get("/v1/admin/models", headers={"Authorization": "Bearer admin-test-token"}); print(r.status_code, r.json)
    r = client.get("/metrics"); print(r.status_code, r.data.decode()[:3000])
    r = client.get("/readyz"); print(r.status_code, r.json)
    r = client.get("/nope"); print(r.status_code, r.json)
    r = client.post("/v1/couples", data="{", content_type="application/json"); print(r.status_code, r.json)
    r = client.post("/v1/couples", data="x"*70000, content_type="application/json"); print(r.status_code, r.json)
    r = client.post("/v1/couples", data="x", content_type="text/plain"); print(r.status_code, r.json)
