#include "config.h"

#include <stddef.h>
#include <string.h>

#include "module.h"

const struct msh_module *
msh_module_lb(const char *name)
{
	size_t i;

	for (i = 0; msh_modules[i] != NULL; i++)
		if (msh_modules[i]->lb != NULL &&
		    strcmp(msh_modules[i]->name, name) == 0)
			return msh_modules[i];
	return NULL;
}
