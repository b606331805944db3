/* ct-flood.c — creates new conntrack entries at a chosen rate: one UDP
 * datagram per entry, each to a distinct (destination address, port), sent
 * with sendmmsg from one unconnected socket. Bounded by count and by time.
 *
 *   ct-flood -d 198.19.0.0 -n 200000 -r 100000 -t 10
 *
 * -d  first destination address (IPv4); entry i goes to address d + i/PORTS
 *     and port BASE_PORT + i%PORTS, so every datagram is a new tuple
 * -n  number of datagrams (= entries) to send
 * -r  target rate in datagrams/s, 0 = as fast as possible
 * -t  hard time limit in seconds (the run stops there even if -n is not met)
 * -b  sendmmsg batch size (default 64)
 *
 * Prints one line: sent=N errors=N seconds=S rate=R cpu=S first_error=STRING
 * (cpu = this process's user+system time, which includes the kernel's work
 * of creating the entries and building their events)
 * Traffic goes only where the routing table of the calling namespace sends
 * it: the bench script runs this inside a namespace it created. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PORTS     50000u
#define BASE_PORT 10000u
#define MAX_BATCH 1024

static double
now_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage (void)
{
  fprintf (stderr,
           "usage: ct-flood -d DST_IPV4 -n COUNT [-r RATE] [-t SECONDS] "
           "[-b BATCH]\n");
  exit (2);
}

int
main (int argc, char **argv)
{
  static struct mmsghdr msgs[MAX_BATCH];
  static struct sockaddr_in addrs[MAX_BATCH];
  static struct iovec iov[MAX_BATCH];
  static char payload[16] = "ct-flood";
  struct in_addr base = { 0 };
  unsigned long count = 0, batch = 64;
  double rate = 0, max_s = 10;
  unsigned long sent = 0, errors = 0;
  int first_errno = 0;
  double t0, t_end;
  int opt, fd;

  while ((opt = getopt (argc, argv, "d:n:r:t:b:")) != -1)
    switch (opt)
      {
      case 'd':
        if (inet_pton (AF_INET, optarg, &base) != 1)
          usage ();
        break;
      case 'n':
        count = strtoul (optarg, NULL, 10);
        break;
      case 'r':
        rate = strtod (optarg, NULL);
        break;
      case 't':
        max_s = strtod (optarg, NULL);
        break;
      case 'b':
        batch = strtoul (optarg, NULL, 10);
        break;
      default:
        usage ();
      }
  if (base.s_addr == 0 || count == 0 || batch == 0 || batch > MAX_BATCH
      || max_s <= 0 || max_s > 60)
    usage ();

  fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      perror ("socket");
      return 1;
    }
  for (unsigned i = 0; i < MAX_BATCH; i++)
    {
      iov[i].iov_base = payload;
      iov[i].iov_len = sizeof payload;
      addrs[i].sin_family = AF_INET;
      msgs[i].msg_hdr.msg_name = &addrs[i];
      msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }

  t0 = now_s ();
  t_end = t0 + max_s;
  while (sent + errors < count)
    {
      unsigned long done = sent + errors;
      unsigned long n = count - done < batch ? count - done : batch;
      double t = now_s ();
      int r;

      if (t >= t_end)
        break;
      if (rate > 0)
        {
          /* Pace on the schedule "entry k leaves at t0 + k/rate": sleep
           * until the first entry of this batch is due. */
          double due = t0 + (double)done / rate;

          if (due > t)
            {
              double wait = due - t;
              struct timespec ts
                  = { (time_t)wait, (long)((wait - (time_t)wait) * 1e9) };

              nanosleep (&ts, NULL);
              continue;
            }
          /* Behind schedule: send only what is due (at least one). */
          unsigned long due_n = (unsigned long)((t - t0) * rate) + 1;
          if (due_n > done && due_n - done < n)
            n = due_n - done;
        }

      for (unsigned long i = 0; i < n; i++)
        {
          unsigned long k = done + i;

          addrs[i].sin_addr.s_addr
              = htonl (ntohl (base.s_addr) + 1 + (uint32_t)(k / PORTS));
          addrs[i].sin_port = htons ((uint16_t)(BASE_PORT + k % PORTS));
        }
      r = sendmmsg (fd, msgs, (unsigned)n, 0);
      if (r < 0)
        {
          /* The first message failed (e.g. EPERM when a hook dropped it):
           * count it and go on with the next. */
          if (first_errno == 0)
            first_errno = errno;
          errors++;
          continue;
        }
      sent += (unsigned long)r;
    }

  double secs = now_s () - t0;
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
               + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  printf (
      "sent=%lu errors=%lu seconds=%.3f rate=%.0f cpu=%.3f first_error=%s\n",
      sent, errors, secs, secs > 0 ? (double)sent / secs : 0.0, cpu,
      first_errno ? strerror (first_errno) : "none");
  return 0;
}
