# A float loop of 10^7 iterations (locals of a function).
def run(n):
    s = 0.0
    x = 0.5
    for i in range(n):
        s = s + x * 1.5
        x = x + 0.000001
    return s

print(run(10000000))
