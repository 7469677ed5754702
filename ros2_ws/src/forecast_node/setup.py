from setuptools import setup

package_name = "forecast_node"

setup(
    name=package_name,
    version="0.1.0",
    packages=[package_name],
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="SwiftCast developers",
    maintainer_email="dev@swiftcast.invalid",
    description="DeformF2F semantic forecasting node",
    license="Apache-2.0",
    entry_points={"console_scripts": ["forecast_node = forecast_node:main"]},
)
