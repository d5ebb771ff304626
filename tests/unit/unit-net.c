/* Unit tests of net/ports.c (the nook.ports syntax) and of net_setup_options's
 * checks that refuse bad annotations before any helper starts. */
#include <arpa/inet.h>

#include "net.h"
#include "nook-net.h"
#include "unit.h"
#include "util.h"

static void test_port_parse_forms(void) {
  struct net_port p;
  nook_error err;
  char ip[INET6_ADDRSTRLEN];
  CHECK_EQ_INT(net_port_parse("8080:80", &p, &err), 0);
  CHECK_EQ_INT(p.proto, NET_TCP);
  CHECK_EQ_INT(p.family, AF_INET);
  CHECK_EQ_INT(p.host_port, 8080);
  CHECK_EQ_INT(p.guest_port, 80);
  CHECK_EQ_STR(net_port_host_ip(&p, ip, sizeof(ip)), "0.0.0.0");
  CHECK_EQ_INT(ntohs(((struct sockaddr_in *)&p.host_addr)->sin_port), 8080);

  CHECK_EQ_INT(net_port_parse("127.0.0.1:5353:53/udp", &p, &err), 0);
  CHECK_EQ_INT(p.proto, NET_UDP);
  CHECK_EQ_STR(net_port_host_ip(&p, ip, sizeof(ip)), "127.0.0.1");
  CHECK_EQ_INT(p.guest_port, 53);

  CHECK_EQ_INT(net_port_parse("[::1]:8443:443/tcp", &p, &err), 0);
  CHECK_EQ_INT(p.family, AF_INET6);
  CHECK_EQ_STR(net_port_host_ip(&p, ip, sizeof(ip)), "::1");
  CHECK_EQ_INT(p.host_len, sizeof(struct sockaddr_in6));
}

static void test_port_parse_errors_name_the_problem(void) {
  struct net_port p;
  nook_error err;
  nook_err_clear(&err);
  CHECK_EQ_INT(net_port_parse("8080", &p, &err), -EINVAL);
  CHECK(strstr(err.msg, "HOSTPORT:CONTAINERPORT") != NULL);
  CHECK_EQ_INT(net_port_parse("8080:80/sctp", &p, &err), -EINVAL);
  CHECK(strstr(err.msg, "tcp or udp") != NULL);
  CHECK_EQ_INT(net_port_parse("0:80", &p, &err), -EINVAL);
  CHECK(strstr(err.msg, "host port `0`") != NULL);
  CHECK_EQ_INT(net_port_parse("8080:65536", &p, &err), -EINVAL);
  CHECK(strstr(err.msg, "container port `65536`") != NULL);
  CHECK_EQ_INT(net_port_parse("localhost:8080:80", &p, &err), -EINVAL);
  CHECK(strstr(err.msg, "not an IPv4 or IPv6 address") != NULL);
  CHECK_EQ_INT(net_port_parse("[::1:8080:80", &p, &err), -EINVAL);
}

static void test_setup_without_slirp_starts_nothing(void) {
  nook_error err;
  pid_t helper = 42;
  struct net_options none = {0};
  CHECK_EQ_INT(net_setup_options(&none, 1, NULL, &helper, &err), 0);
  CHECK_EQ_INT(helper, 0);
  struct net_options host = {.network = "host"};
  CHECK_EQ_INT(net_setup_options(&host, 1, NULL, &helper, &err), 0);
  CHECK_EQ_INT(helper, 0);
}

static void test_setup_refuses_bad_annotations(void) {
  nook_error err;
  pid_t helper = 42;
  struct net_options o = {.network = "bridge"};
  CHECK(net_setup_options(&o, 1, NULL, &helper, &err) < 0);
  CHECK(strstr(err.msg, "nook.network") != NULL);
  CHECK_EQ_INT(helper, 0);
  o = (struct net_options){.network = "slirp", .mtu = "70000"};
  CHECK(net_setup_options(&o, 1, NULL, &helper, &err) < 0);
  CHECK(strstr(err.msg, "nook.network.mtu") != NULL);
  o = (struct net_options){.network = "slirp", .allow_host_loopback = "yes"};
  CHECK(net_setup_options(&o, 1, NULL, &helper, &err) < 0);
  CHECK(strstr(err.msg, "allow_host_loopback") != NULL);
  o = (struct net_options){.network = "slirp", .ports = "8080:80,bad"};
  CHECK(net_setup_options(&o, 1, NULL, &helper, &err) < 0);
  CHECK(strstr(err.msg, "nook.ports") != NULL);
  CHECK_EQ_INT(helper, 0);
}

int main(void) {
  return unit_run(UNIT_CASES(UNIT_CASE(test_port_parse_forms),
                             UNIT_CASE(test_port_parse_errors_name_the_problem),
                             UNIT_CASE(test_setup_without_slirp_starts_nothing),
                             UNIT_CASE(test_setup_refuses_bad_annotations)));
}
