from trialsim.cli import main

main()
