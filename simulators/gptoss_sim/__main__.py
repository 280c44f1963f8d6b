from gptoss_sim.cli import main

main()
