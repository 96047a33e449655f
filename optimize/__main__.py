from optimize.cli import main

raise SystemExit(main())
