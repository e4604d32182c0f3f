from chaosmonkey.cli import main

main()
