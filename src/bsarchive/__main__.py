from bsarchive.cli import main

main()
