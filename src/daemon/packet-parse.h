/* packet-parse.h — finds a flow's tuple in raw packet bytes: IPv4, IPv6 with
 * extension headers, ports, ICMP type/code and the packet inside an ICMP
 * error. Pure: bytes in, tuple out; no sockets, no allocation, fuzzed. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How much of the transport part of the tuple the bytes held. */
typedef enum
{
  CT_PACKET_L4_OK,        /* proto and its ports (ICMP type/code) were read;
                             protocols without ports (GRE, ESP…) keep 0 */
  CT_PACKET_L4_FRAGMENT,  /* a non-first fragment: proto known, no L4 header
                             in this packet, ports 0 */
  CT_PACKET_L4_TRUNCATED, /* proto known, the bytes end before its ports, or
                             an ICMP error whose inner packet is cut short
                             (then the outer type/code are kept) */
  CT_PACKET_L4_UNKNOWN,   /* the bytes end inside the IPv6 extension headers:
                             proto holds the extension header where the walk
                             stopped, not a transport protocol */
} CtPacketL4;

/* Addresses in network byte order (IPv4 in the first 4 bytes, the rest 0),
 * ports in host order; for ICMP/ICMPv6 sport = type and dport = code. */
typedef struct
{
  guint8 family; /* AF_INET or AF_INET6 */
  guint8 proto;  /* IPPROTO_* */
  guint8 src[16];
  guint8 dst[16];
  guint16 sport;
  guint16 dport;
  /* The tuple is that of the packet embedded in an ICMP/ICMPv6 error
   * (destination unreachable, packet too big, time exceeded, parameter
   * problem, …), oriented as that inner packet was: the flow the error is
   * about, not the error's own addresses. */
  gboolean icmp_error;
  CtPacketL4 l4;
} CtPacketTuple;

/* Parses a network-layer packet of `family` (AF_INET or AF_INET6). Returns
 * FALSE, and fills nothing useful, when the fixed IP header is missing or
 * not of that family; TRUE when the addresses and family are valid, with
 * out->l4 saying how much of the rest was there. Never reads past len. */
gboolean ct_packet_parse (guint8 family, const guint8 *l3, gsize len,
                          CtPacketTuple *out);

/* Parses a transport header of `proto` into out (family and addresses are
 * kept, except for ICMP errors, whose inner tuple replaces everything).
 * Sets out->proto and out->l4; returns out->l4 == CT_PACKET_L4_OK. */
gboolean ct_packet_parse_l4 (guint8 proto, const guint8 *l4, gsize len,
                             CtPacketTuple *out);

G_END_DECLS
