# 10^6 map inserts and lookups with string keys.
def run(n):
    M = {}
    for i in range(n):
        M["k" + str(i)] = i
    s = 0
    for i in range(n):
        s = s + M["k" + str(i)]
    return s

print(run(1000000))
