# Nested loops over a list of 10^6 ints: build it, then sum it 5 times.
def run(n):
    L = []
    for i in range(n):
        L.append(i)
    s = 0
    for rep in range(5):
        for x in L:
            s = s + x
    return s

print(run(1000000))
