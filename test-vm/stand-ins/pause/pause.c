/* pause: the sandbox ("pause") container's process, written here for the
 * test images (the real one is registry.k8s.io/pause's pause.c; this is not
 * a copy). As PID 1 of a pod it holds the namespaces, reaps every child
 * that is re-parented to it, and exits 0 on TERM or INT. Built static.
 * `pause -v` prints what it is. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_stop(int sig) { (void)sig; stop = 1; }

static void on_child(int sig) {
    (void)sig;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("pause (floppies-installer stand-in for the pause image)");
        return 0;
    }
    if (getpid() != 1)
        fprintf(stderr, "pause: warning: not PID 1\n");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL))
        return 1;
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    if (sigaction(SIGCHLD, &sa, NULL))
        return 2;
    while (!stop)
        pause();
    fprintf(stderr, "pause: shutting down on signal\n");
    return 0;
}
