from vidstruct.cli.main import entry

entry()
