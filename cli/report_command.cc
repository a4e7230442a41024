// `lineage report RUN --out report.html`: a run's tree, scores and agents as one self-contained HTML file.
#include <cstdio>

#include "base/files.h"
#include "cli/commands.h"
#include "web/web.h"

namespace lineage::cli {

void RegisterReportCommand(CLI::App& app, Context& ctx) {
  struct Args {
    std::int64_t run = 0;
    std::string out;
  };
  auto args = std::make_shared<Args>();
  auto* report = app.add_subcommand("report", "Write a run's report: its archive tree, score over time and every "
                                              "agent's page, as one HTML file that opens offline");
  report->add_option("RUN", args->run, "the run id")->required();
  report->add_option("--out", args->out, "the HTML file to write")->required();
  report->callback([&ctx, args] {
    ctx.action = [&ctx, args]() -> Status {
      LINEAGE_ASSIGN_OR_RETURN(auto archive, Archive::Open(ctx.home));
      LINEAGE_ASSIGN_OR_RETURN(std::string html, web::ReportHtml(*archive, args->run));
      LINEAGE_RETURN_IF_ERROR(WriteFileAtomic(args->out, html));
      std::printf("wrote %s (%zu KiB): open it in a browser; it needs no network\n", args->out.c_str(),
                  html.size() / 1024);
      return Status::OK();
    };
  });
}

}  // namespace lineage::cli
