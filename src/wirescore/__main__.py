from wirescore.cli import main

main(prog_name="wirescore")
