print("hvt")
