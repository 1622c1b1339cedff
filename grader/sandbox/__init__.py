"""Where student code runs: launchers (plain, bwrap), cgroups, seccomp, the doctor."""
