from trn.cli.main import program

program()
