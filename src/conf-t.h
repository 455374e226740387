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
	MSH_V_FLAG,		/* int, on or off */
	MSH_V_RETRY_ON,		/* struct msh_retry_on */
	MSH_V_LIMIT,		/* unsigned, min to max, or off: 0 */
};

enum msh_section_kind {
	MSH_SEC_MESHD,
	MSH_SEC_LISTENER,
	MSH_SEC_CLUSTER,
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
	int			forwarded_for;	/* X-Forwarded-For/-Proto */
	int			via;
	unsigned		address_line;
	unsigned		protocol_line;
	unsigned		cluster_line;
	unsigned		client_timeout_line;
	unsigned		keepalive_timeout_line;
	unsigned		idle_timeout_line;
	unsigned		max_header_size_line;
	unsigned		max_headers_line;
	unsigned		buffer_size_line;
	unsigned		forwarded_for_line;
	unsigned		via_line;
};

struct msh_cluster_conf {
	char			 name[MSH_NAME_MAX + 1];
	unsigned		 line;
	struct msh_addr_list	 endpoint;
	char			 service[MSH_NAME_MAX + 1];
	const struct msh_module	*lb;
	uint64_t		 connect_timeout;	/* ms */
	uint64_t		 response_timeout;	/* ms */
	uint64_t		 request_timeout;	/* ms, 0: off */
	/* Passive outlier detection: failures in a row, 0: off. */
	unsigned		 outlier_5xx;
	unsigned		 outlier_gateway;
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
	/* Circuit breaking: 0, no limit. */
	unsigned		 max_connections;
	unsigned		 max_pending;
	unsigned		 max_requests;
	unsigned		 max_retries;
	unsigned		 endpoint_line;
	unsigned		 service_line;
	unsigned		 lb_line;
	unsigned		 connect_timeout_line;
	unsigned		 response_timeout_line;
	unsigned		 request_timeout_line;
	unsigned		 outlier_5xx_line;
	unsigned		 outlier_gateway_line;
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
	unsigned		 max_connections_line;
	unsigned		 max_pending_line;
	unsigned		 max_requests_line;
	unsigned		 max_retries_line;
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
	uint64_t		  drain_timeout;
	unsigned		  service_line;
	unsigned		  registry_line;
	unsigned		  workers_line;
	unsigned		  admin_line;
	unsigned		  log_line;
	unsigned		  drain_timeout_line;

	struct msh_listener_conf *listeners;
	size_t			  nlisteners;
	struct msh_cluster_conf	 *clusters;
	size_t			  nclusters;
};

#endif
