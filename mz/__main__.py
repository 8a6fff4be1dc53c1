from mz.cli import main

main()
