print("spt")
