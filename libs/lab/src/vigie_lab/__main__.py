from vigie_lab.main import run

run()
