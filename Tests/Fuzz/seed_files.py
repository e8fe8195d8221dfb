"""What the make_*corpus.py scripts share: writing their seeds, one file each, into a folder
beside them (the corpus the fuzzer starts from and FuzzTests replays)."""
import os


def write_seeds(folder_name, seeds):
    """Writes each seed (name -> bytes) to Tests/Fuzz/FOLDER_NAME/NAME and says how many."""
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), folder_name)
    os.makedirs(folder, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(folder, name), "wb") as file:
            file.write(data)
    print(f"wrote {len(seeds)} seeds to {folder}")
