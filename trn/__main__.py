from trn.cli.main import main

raise SystemExit(main())
