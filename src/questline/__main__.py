from questline.cli import main

main()
