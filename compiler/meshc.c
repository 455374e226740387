/*
 * meshc: the mesh compiler. Reads one mesh.conf, checks the whole mesh
 * and writes one static meshd.conf per service.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mesh.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: meshc compile [-o DIR] [-Werror] MESH.conf\n"
	    "       meshc check [-Werror] MESH.conf\n"
	    "       meshc -V\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct msh_diag diag = { 0 };
	struct mc_mesh mesh;
	const char *cmd, *outdir = ".";
	int compile, ch;

	if (argc == 2 && strcmp(argv[1], "-V") == 0) {
		printf("meshc " PACKAGE_VERSION "\n");
		return 0;
	}
	if (argc < 2)
		usage();
	cmd = argv[1];
	if (strcmp(cmd, "compile") == 0)
		compile = 1;
	else if (strcmp(cmd, "check") == 0)
		compile = 0;
	else {
		fprintf(stderr, "meshc: unknown command \"%s\"\n", cmd);
		usage();
	}
	argc--;
	argv++;
	while ((ch = getopt(argc, argv, "o:W:")) != -1) {
		switch (ch) {
		case 'o':
			if (!compile)
				usage();
			outdir = optarg;
			break;
		case 'W':
			if (strcmp(optarg, "error") != 0)
				usage();
			diag.werror = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();

	if (mc_parse(&mesh, argv[optind], &diag) == 0)
		mc_check(&mesh, &diag);
	if (!msh_diag_failed(&diag) && compile)
		mc_emit(&mesh, outdir, &diag);
	mc_free(&mesh);
	return msh_diag_failed(&diag) ? 1 : 0;
}
