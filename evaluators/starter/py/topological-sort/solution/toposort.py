import heapq


def order(deps):
    items = set(deps)
    for ds in deps.values():
        items.update(ds)
    waiting = {item: set(deps.get(item, ())) for item in items}
    users = {item: [] for item in items}
    for item, ds in waiting.items():
        for d in ds:
            users[d].append(item)
    ready = [item for item, ds in waiting.items() if not ds]
    heapq.heapify(ready)
    out = []
    while ready:
        item = heapq.heappop(ready)
        out.append(item)
        for user in users[item]:
            waiting[user].discard(item)
            if not waiting[user]:
                heapq.heappush(ready, user)
    if len(out) != len(items):
        raise ValueError("cycle")
    return out
