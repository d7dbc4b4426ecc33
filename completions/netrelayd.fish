# fish completion for netrelayd (hand-written: netrelayd parses its command line by hand,
# Sources/netrelayd/CommandLineOptions.swift; keep the two in step)
complete -c netrelayd -f
complete -c netrelayd -n __fish_use_subcommand -a run -d 'Run the listeners (the default)'
complete -c netrelayd -n __fish_use_subcommand -a check-config -d 'Validate a configuration file'
complete -c netrelayd -n __fish_use_subcommand -a help -d 'Print the help'
complete -c netrelayd -n '__fish_seen_subcommand_from check-config' -F -a '(__fish_complete_suffix .json)'
complete -c netrelayd -n '__fish_seen_subcommand_from help' -a 'run check-config'
complete -c netrelayd -s c -l config -r -F -d 'The JSON configuration' -a '(__fish_complete_suffix .json)'
complete -c netrelayd -l log-level -x -a 'trace debug info notice warning error critical' -d "Override the config's logLevel"
complete -c netrelayd -s V -l version -d 'Print the version'
complete -c netrelayd -s h -l help -d 'Print the help'
