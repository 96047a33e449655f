from optimize.cli.app import main

raise SystemExit(main())
