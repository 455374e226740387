/* meshd.conf as loaded: what meshc wrote, with the line of every value. */
#ifndef MSH_CONF_T_H
#define MSH_CONF_T_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "value.h"

struct msh_module;

enum msh_protocol {
	MSH_PROTO_HTTP,
	MSH_PROTO_TCP,
};

enum msh_value_kind {
	MSH_V_NAME,		/* char[MSH_NAME_MAX + 1] */
	MSH_V_PATH,		/* char *, relative to the config's directory */
	MSH_V_WORKERS,		/* unsigned, 0..64 */
	MSH_V_ADDR,		/* struct msh_addr */
	MSH_V_ADDR_LIST,	/* repeatable: struct msh_addr_list */
	MSH_V_PROTOCOL,		/* enum msh_protocol */
	MSH_V_DURATION,		/* uint64_t milliseconds */
	MSH_V_DURATION_OFF,	/* the same, or off: 0 */
	MSH_V_SIZE,		/* uint64_t bytes, min to max */
	MSH_V_COUNT,		/* unsigned, min to max */
	MSH_V_LB,		/* const struct msh_module * */
	MSH_V_HASH_KEY,		/* struct msh_hash_key */
	MSH_V_FLAG,		/* int, on or off */
	MSH_V_RETRY_ON,		/* struct msh_retry_on */
	MSH_V_LIMIT,		/* unsigned, min to max, or off: 0 */
	MSH_V_LABELS,		/* char *, key=value list */
	MSH_V_TEXT,		/* char *, non-empty */
	MSH_V_TEXT_LIST,	/* repeatable: struct msh_text_list */
	MSH_V_HEALTH_CHECK,	/* struct msh_health_check */
	MSH_V_STATUS_LIST,	/* struct msh_status_list */
	MSH_V_HOST,		/* char[MSH_HOST_MAX + 1], for a Host field */
	MSH_V_TLS_MODE,		/* enum msh_tls_mode */
	MSH_V_RULE_ACTION,	/* enum msh_rule_action */
	MSH_V_PERCENT,		/* unsigned, a share of MSH_PERCENT_ALL */
	MSH_V_RATE,		/* struct msh_rate */
};

struct msh_text_list {
	char		**items;
	unsigned	 *lines;
	size_t		  n;
};

/* A cluster's health check settings, whole: a checker keeps a copy. */
struct msh_health_conf {
	struct msh_health_check	 check;
	uint64_t		 interval;	/* ms, between checks */
	uint64_t		 timeout;	/* ms, for one check */
	uint64_t		 jitter;	/* ms, the most added */
	unsigned		 healthy;	/* passes in a row */
	unsigned		 unhealthy;	/* failures in a row */
	struct msh_status_list	 status;	/* that pass a check */
	char			 host[MSH_HOST_MAX + 1]; /* "": address */
	unsigned		 check_line;
	unsigned		 interval_line;
	unsigned		 timeout_line;
	unsigned		 jitter_line;
	unsigned		 healthy_line;
	unsigned		 unhealthy_line;
	unsigned		 status_line;
	unsigned		 host_line;
};

enum msh_tls_mode {
	MSH_TLS_OFF,
	MSH_TLS_STRICT,		/* TLS with a verified client certificate */
	MSH_TLS_PERMISSIVE,	/* that, or plaintext, on one port */
	MSH_TLS_EDGE,		/* TLS for clients outside the mesh: no
				 * client certificate, SNI */
	MSH_TLS_ON,		/* clusters: originate TLS */
};

enum msh_section_kind {
	MSH_SEC_MESHD,
	MSH_SEC_LISTENER,
	MSH_SEC_CLUSTER,
	MSH_SEC_ROUTE,
	MSH_SEC_RULE,
	MSH_SEC_COUNT,
};

/* One meshd.conf key: a row in a directive table. */
struct msh_directive {
	enum msh_section_kind	 section;
	const char		*key;
	enum msh_value_kind	 kind;
	size_t			 offset;	/* of the value */
	size_t			 line_offset;	/* of its line */
	uint64_t		 min, max;	/* MSH_V_SIZE, MSH_V_COUNT */
};

struct msh_addr_list {
	struct msh_addr	*addrs;
	size_t		 n;
};

struct msh_listener_conf {
	char			name[MSH_NAME_MAX + 1];
	unsigned		line;
	struct msh_addr		address;
	enum msh_protocol	protocol;
	char			cluster[MSH_NAME_MAX + 1];
	uint64_t		client_timeout;	/* ms, to read a head */
	uint64_t		keepalive_timeout; /* ms, idle between requests */
	uint64_t		idle_timeout;	/* ms, tcp: no byte either way */
	uint64_t		max_header_size; /* line and fields, bytes */
	unsigned		max_headers;
	uint64_t		buffer_size;	/* bytes held per direction */
	enum msh_tls_mode	tls;
	char			*tls_cert;	/* edge: its own, or [meshd]'s */
	char			*tls_key;
	struct msh_text_list	tls_sni;	/* edge: "HOST CERT KEY" */
	int			forwarded_for;	/* X-Forwarded-For/-Proto */
	int			via;
	struct msh_rate		rate_limit;	/* n 0: off */
	unsigned		rate_limit_burst; /* loaded: unset is n */
	unsigned		address_line;
	unsigned		protocol_line;
	unsigned		cluster_line;
	unsigned		client_timeout_line;
	unsigned		keepalive_timeout_line;
	unsigned		idle_timeout_line;
	unsigned		max_header_size_line;
	unsigned		max_headers_line;
	unsigned		buffer_size_line;
	unsigned		tls_line;
	unsigned		tls_cert_line;
	unsigned		tls_key_line;
	unsigned		tls_sni_line;
	unsigned		forwarded_for_line;
	unsigned		via_line;
	unsigned		rate_limit_line;
	unsigned		rate_limit_burst_line;
};

struct msh_cluster_conf {
	char			 name[MSH_NAME_MAX + 1];
	unsigned		 line;
	struct msh_addr_list	 endpoint;
	char			 service[MSH_NAME_MAX + 1];
	char			*labels;	/* a subset of service's: or NULL */
	const struct msh_module	*lb;
	struct msh_hash_key	 hash_key;	/* for lb->lb->hashed */
	uint64_t		 connect_timeout;	/* ms */
	uint64_t		 response_timeout;	/* ms */
	uint64_t		 request_timeout;	/* ms, 0: off */
	enum msh_tls_mode	 tls;		/* MSH_TLS_ON: originate TLS */
	char			*tls_peer;	/* the URI SAN its endpoints need */
	/* Passive outlier detection: failures in a row, 0: off. */
	unsigned		 outlier_5xx;
	unsigned		 outlier_gateway;
	uint64_t		 outlier_interval;	/* ms between sweeps, 0: off */
	uint64_t		 ejection_time;		/* ms, the first */
	uint64_t		 max_ejection_time;	/* ms */
	unsigned		 max_ejected_percent;
	/* Retries. */
	unsigned		 retries;		/* after the first try */
	struct msh_retry_on	 retry_on;
	uint64_t		 per_try_timeout;	/* ms to a response head, 0: off */
	uint64_t		 retry_backoff;		/* ms, the base */
	unsigned		 retry_budget;		/* % of requests */
	unsigned		 retry_budget_min;	/* per second, always */
	int			 retry_non_idempotent;
	/* Which endpoints take traffic, in percent of a view's endpoints
	 * available; 0: off. */
	unsigned		 zone_affinity;
	unsigned		 panic_threshold;
	/* Circuit breaking: 0, no limit. */
	unsigned		 max_connections;
	unsigned		 max_pending;
	unsigned		 max_requests;
	unsigned		 max_retries;
	/* Active health checks. */
	struct msh_health_conf	 health;
	unsigned		 endpoint_line;
	unsigned		 service_line;
	unsigned		 labels_line;
	unsigned		 lb_line;
	unsigned		 hash_key_line;
	unsigned		 connect_timeout_line;
	unsigned		 response_timeout_line;
	unsigned		 request_timeout_line;
	unsigned		 tls_line;
	unsigned		 tls_peer_line;
	unsigned		 outlier_5xx_line;
	unsigned		 outlier_gateway_line;
	unsigned		 outlier_interval_line;
	unsigned		 ejection_time_line;
	unsigned		 max_ejection_time_line;
	unsigned		 max_ejected_percent_line;
	unsigned		 retries_line;
	unsigned		 retry_on_line;
	unsigned		 per_try_timeout_line;
	unsigned		 retry_backoff_line;
	unsigned		 retry_budget_line;
	unsigned		 retry_budget_min_line;
	unsigned		 retry_non_idempotent_line;
	unsigned		 zone_affinity_line;
	unsigned		 panic_threshold_line;
	unsigned		 max_connections_line;
	unsigned		 max_pending_line;
	unsigned		 max_requests_line;
	unsigned		 max_retries_line;
};

struct msh_route;

/* [route NAME]: see route.h. Values as written; route.c compiles them. */
struct msh_route_conf {
	char			 name[MSH_NAME_MAX + 1];
	unsigned		 line;
	char			 listener[MSH_NAME_MAX + 1];
	char			*path;		/* a prefix */
	char			*path_exact;
	char			*path_regex;
	char			*method;	/* a list */
	struct msh_text_list	 header;	/* "Name: value", exact */
	struct msh_text_list	 header_regex;	/* "Name: regex" */
	struct msh_text_list	 header_present;
	struct msh_text_list	 header_absent;
	char			 cluster[MSH_NAME_MAX + 1];
	char			*split;		/* "c1 90, c2 10" */
	char			*direct_response; /* "STATUS [body]" */
	char			*redirect;	/* "STATUS URL" */
	char			*rewrite_prefix;
	/* A copy of mirror_percent of the requests to this cluster too. */
	char			 mirror[MSH_NAME_MAX + 1];
	unsigned		 mirror_percent;
	struct msh_text_list	 add_header;	/* "Name: value" */
	struct msh_text_list	 remove_header;
	/* What the cluster's tries go by, for this route's requests. */
	unsigned		 retries;
	struct msh_retry_on	 retry_on;
	uint64_t		 per_try_timeout;	/* ms, 0: off */
	uint64_t		 request_timeout;	/* ms, 0: off */
	int			 retry_non_idempotent;
	/* Faults it injects into its requests (percent: shares of
	 * MSH_PERCENT_ALL), and its own rate limit. */
	uint64_t		 fault_delay;		/* ms, 0: off */
	unsigned		 fault_delay_percent;
	unsigned		 fault_abort;		/* a status, 0: off */
	unsigned		 fault_abort_percent;
	struct msh_rate		 rate_limit;		/* n 0: off */
	unsigned		 rate_limit_burst;	/* loaded: unset is n */
	unsigned		 listener_line;
	unsigned		 path_line;
	unsigned		 path_exact_line;
	unsigned		 path_regex_line;
	unsigned		 method_line;
	unsigned		 header_line;
	unsigned		 header_regex_line;
	unsigned		 header_present_line;
	unsigned		 header_absent_line;
	unsigned		 cluster_line;
	unsigned		 split_line;
	unsigned		 direct_response_line;
	unsigned		 redirect_line;
	unsigned		 rewrite_prefix_line;
	unsigned		 mirror_line;
	unsigned		 mirror_percent_line;
	unsigned		 add_header_line;
	unsigned		 remove_header_line;
	unsigned		 retries_line;
	unsigned		 retry_on_line;
	unsigned		 per_try_timeout_line;
	unsigned		 request_timeout_line;
	unsigned		 retry_non_idempotent_line;
	unsigned		 fault_delay_line;
	unsigned		 fault_delay_percent_line;
	unsigned		 fault_abort_line;
	unsigned		 fault_abort_percent_line;
	unsigned		 rate_limit_line;
	unsigned		 rate_limit_burst_line;
	struct msh_route	*compiled;
	int			 match_only;	/* a rule's: no action */
};

enum msh_rule_action {
	MSH_RULE_ALLOW,
	MSH_RULE_DENY,
};

struct msh_rule;

/* [rule NAME]: who may call what on a listener (route.h). The match keys
 * are a route's, without its actions. */
struct msh_rule_conf {
	struct msh_route_conf	 match;		/* its name, line */
	struct msh_text_list	 listeners;	/* lists of names */
	enum msh_rule_action	 action;
	struct msh_text_list	 identity;	/* callers' URIs, lists */
	struct msh_text_list	 source;	/* networks, lists of CIDRs */
	unsigned		 listeners_line;
	unsigned		 action_line;
	unsigned		 identity_line;
	unsigned		 source_line;
	struct msh_rule		*compiled;
};

struct msh_conf {
	atomic_uint		  refs;	/* snapshots share it across registry views */
	char			 *file;
	unsigned		  line;		/* of [meshd] */
	char			  service[MSH_NAME_MAX + 1];
	char			 *registry;
	unsigned		  workers;
	struct msh_addr		  admin;
	char			 *log;
	char			 *tls_cert;	/* this sidecar's identity */
	char			 *tls_key;
	char			 *tls_ca;	/* the mesh's CA, for peers */
	char			 *tls_ciphers;	/* TLS 1.2 */
	char			 *tls_groups;
	uint64_t		  drain_timeout;
	unsigned		  service_line;
	unsigned		  registry_line;
	unsigned		  workers_line;
	unsigned		  admin_line;
	unsigned		  log_line;
	unsigned		  tls_cert_line;
	unsigned		  tls_key_line;
	unsigned		  tls_ca_line;
	unsigned		  tls_ciphers_line;
	unsigned		  tls_groups_line;
	unsigned		  drain_timeout_line;

	struct msh_listener_conf *listeners;
	size_t			  nlisteners;
	struct msh_cluster_conf	 *clusters;
	size_t			  nclusters;
	struct msh_route_conf	 *routes;	/* in the file's order */
	size_t			  nroutes;
	struct msh_rule_conf	 *rules;	/* in the file's order */
	size_t			  nrules;
};

#endif
