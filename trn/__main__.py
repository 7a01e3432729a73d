from trn.cli import program

program()
