/*
 * meshc's front end on arbitrary bytes: a mesh.conf parsed from memory,
 * checked, and, when it holds, drawn (DOT to /dev/null). Diagnostics are
 * discarded; what counts is no crash, no leak, no undefined behaviour.
 * Emitting is left out: it writes files, and reads nothing graph does not.
 *
 * MC_PARSE_NO_INCLUDE: an "include =" line in the input is reported as an
 * error and nothing is read. Otherwise the fuzzer, which finds that key
 * soon, would glob(3) and read any file of the machine it runs on (under
 * /etc, /proc/self, a device), which makes runs slow, dependent on the
 * machine and unreproducible, and may block on a FIFO. The include code
 * is tested by t/meshc.t's include cases instead.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>

#include "mesh.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
ignore(void *arg, const struct msh_diag_msg *m)
{
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct msh_diag d = { .sink = ignore };
	struct mc_mesh m;

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		return 0;
	if (mc_parse_buffer(&m, "mesh.conf", (const char *)data, size,
	    MC_PARSE_NO_INCLUDE, &d) == 0) {
		mc_check(&m, &d);
		if (!msh_diag_failed(&d))
			mc_graph(&m, devnull, NULL, &d);
	}
	mc_free(&m);
	return 0;
}
