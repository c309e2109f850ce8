# String building: 10^6 short strings, appended to a row that restarts at 1000 bytes.
def run(n):
    total = 0
    row = ""
    for i in range(n):
        t = "item" + str(i) + ";"
        row = row + t
        if len(row) > 1000:
            total = total + len(row)
            row = ""
    return total + len(row)

print(run(1000000))
