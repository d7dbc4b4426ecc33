// libsystemd, as the daemon uses it: sd-daemon (notify, watchdog, socket activation)
// and sd-journal (structured logging). Swift cannot call C variadic functions, so the
// code uses sd_notify, sd_pid_notify_with_fds (FDSTORE=1), sd_journal_sendv and sd_listen_fds_with_names only.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
